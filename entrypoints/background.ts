import { startBackground } from '../src/background/main';

export default defineBackground({
  // Firefox MV2 would otherwise keep a persistent page; behave like the MV3 worker everywhere.
  persistent: false,
  main: startBackground,
});
