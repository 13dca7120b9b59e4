import { render } from 'preact';
import { Panel } from '../../src/ui/panel/Panel';
import { applyTheme, parseTheme } from '../../src/ui/theme';

// Before the first render, so the panel never flashes in the wrong theme inside bsky.app.
applyTheme(parseTheme(new URLSearchParams(window.location.search).get('theme')));
render(<Panel search={window.location.search} />, document.getElementById('app')!);
