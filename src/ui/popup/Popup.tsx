import { BackgroundInfo } from '../BackgroundInfo';

export function Popup() {
  return (
    <section aria-labelledby="popup-title" style={{ minWidth: '280px' }}>
      <h1 id="popup-title">atmessaging</h1>
      <BackgroundInfo />
      <p>Open a conversation on bsky.app and use the 🔒 toggle to chat end-to-end encrypted.</p>
    </section>
  );
}
