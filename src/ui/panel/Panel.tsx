import { isConvoId } from '../../content/convo-route';
import { ConvoPanel } from './ConvoPanel';

/** Entry of `panel.html?convo=<id>`: the id comes from the content script, so it is checked. */
export function Panel({ search }: { search: string }) {
  const convoId = new URLSearchParams(search).get('convo');
  if (!isConvoId(convoId)) {
    return (
      <p role="alert" data-testid="panel-error">
        This panel was opened without a valid conversation.
      </p>
    );
  }
  return <ConvoPanel convoId={convoId} />;
}
