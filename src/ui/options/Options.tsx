import { BackgroundInfo } from '../BackgroundInfo';

export function Options() {
  return (
    <section aria-labelledby="options-title">
      <h1 id="options-title">atmessaging settings</h1>
      <BackgroundInfo />
    </section>
  );
}
