const timeOnly = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dateAndTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

/** Today's messages show the time only, older ones the date too, like bsky.app's chat. */
export function formatSentAt(sentAt: number, now: number = Date.now()): { short: string; full: string } {
  const sameDay = new Date(sentAt).toDateString() === new Date(now).toDateString();
  return { short: (sameDay ? timeOnly : dateAndTime).format(sentAt), full: full.format(sentAt) };
}
