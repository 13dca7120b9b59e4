import type { ConvoProgress } from '../../rpc/wire';

const PHASE_LABEL: Record<ConvoProgress['phase'], string> = {
  devices: 'Adding devices',
  invites: 'Preparing invites',
};

/** "Adding devices: 23 of 50", as text and as a progressbar for assistive technology. */
export function progressText(progress: ConvoProgress): string {
  return `${PHASE_LABEL[progress.phase]}: ${progress.done} of ${progress.total}`;
}

export function ProgressBar({ progress }: { progress: ConvoProgress }) {
  const text = progressText(progress);
  const percent = progress.total > 0 ? Math.round((progress.done / progress.total) * 100) : 0;
  return (
    <div class="progress" data-testid="panel-progress">
      <div
        class="progress-track"
        role="progressbar"
        aria-label={PHASE_LABEL[progress.phase]}
        aria-valuemin={0}
        aria-valuemax={progress.total}
        aria-valuenow={progress.done}
        aria-valuetext={text}
      >
        <div class="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <p class="progress-text muted" data-testid="panel-progress-text">
        {text}
      </p>
    </div>
  );
}
