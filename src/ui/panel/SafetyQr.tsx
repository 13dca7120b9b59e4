import { useMemo } from 'preact/hooks';
import encodeQR from 'qr';

/** Modules of quiet zone around the symbol, as the QR standard asks for. */
const QUIET_ZONE = 4;

/**
 * The QR code of a safety number, drawn as one SVG path of dark modules (built as elements, so
 * no markup string ever goes through innerHTML). Medium error correction: a screen photographed
 * at an angle still scans.
 */
export function SafetyQr({ text, label }: { text: string; label: string }) {
  const { size, path } = useMemo(() => {
    const rows = encodeQR(text, 'raw', { ecc: 'medium', border: QUIET_ZONE });
    let d = '';
    rows.forEach((row, y) => {
      row.forEach((dark, x) => {
        if (dark) d += `M${x} ${y}h1v1h-1z`;
      });
    });
    return { size: rows.length, path: d };
  }, [text]);
  return (
    <svg
      class="safety-qr"
      data-testid="safety-qr"
      role="img"
      aria-label={label}
      viewBox={`0 0 ${size} ${size}`}
      shape-rendering="crispEdges"
    >
      {/* Light and dark are fixed, not themed: scanners expect dark modules on a light ground. */}
      <rect width={size} height={size} fill="#ffffff" />
      <path d={path} fill="#000000" />
    </svg>
  );
}
