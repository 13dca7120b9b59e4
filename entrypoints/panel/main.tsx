import { render } from 'preact';
import { Panel } from '../../src/ui/panel/Panel';

render(<Panel search={window.location.search} />, document.getElementById('app')!);
