import { gunzipSync, constants as zc } from 'node:zlib';

/**
 * The guest's second serial port carries bulk data so it never interleaves
 * with the console. Two kinds of section:
 *
 *   krepro-artifact-begin <name>            text, one line at a time
 *   ...
 *   krepro-artifact-end <name>
 *
 *   krepro-artifact-begin <name>.gz <bytes> exactly <bytes> of gzip data
 *   <bytes of gzip>                         (a 16550 at TCG speed moves
 *   krepro-artifact-end <name>.gz            ~175 KB/s: a 10 MB trace
 *                                            compresses to ~1 MB)
 *
 * A section cut short (the guest died or was stopped mid-dump) is kept with
 * what arrived and named in `incomplete`, so nobody mistakes the end of what
 * arrived for the end of what the kernel recorded.
 */
export interface Artifacts {
  files: Record<string, string>;
  /** Names (without .gz) of sections that did not arrive whole. */
  incomplete: string[];
}

const BEGIN = 'krepro-artifact-begin ';
const END = 'krepro-artifact-end ';

export function readArtifacts(raw: Buffer | string): Artifacts {
  const buf = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  const files: Record<string, string> = {};
  const incomplete: string[] = [];
  // The open text section: its name and lines.
  let textName: string | null = null;
  let textLines: string[] = [];
  const closeText = (whole: boolean) => {
    if (textName === null) return;
    files[textName] = textLines.length ? textLines.join('\n') + '\n' : '';
    if (!whole) incomplete.push(textName);
    textName = null;
    textLines = [];
  };
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    const end = nl === -1 ? buf.length : nl;
    const line = buf.toString('utf8', pos, end).replace(/\r$/, '');
    pos = end + 1;
    if (line.startsWith(BEGIN)) {
      closeText(false);
      const [name, size] = line.slice(BEGIN.length).trim().split(/\s+/);
      if (!name) continue;
      if (size !== undefined && /^\d+$/.test(size)) {
        // Binary section: exactly `size` bytes, then a newline and the end line.
        const want = Number(size);
        const body = buf.subarray(pos, Math.min(buf.length, pos + want));
        const whole = body.length === want;
        pos += body.length;
        const base = name.endsWith('.gz') ? name.slice(0, -3) : name;
        files[base] = name.endsWith('.gz') ? gunzipPartial(body) : body.toString('utf8');
        if (!whole) incomplete.push(base);
        // Skip the newline after the data and the end line.
        if (buf[pos] === 10) pos++;
        const next = buf.indexOf(10, pos);
        const endLine = buf.toString('utf8', pos, next === -1 ? buf.length : next).replace(/\r$/, '');
        if (endLine.startsWith(END)) pos = next === -1 ? buf.length : next + 1;
        else if (whole) incomplete.push(base);
        continue;
      }
      textName = name;
      continue;
    }
    if (textName === null) continue;
    if (line.startsWith(END)) closeText(true);
    else textLines.push(line);
  }
  closeText(false);
  return { files, incomplete: [...new Set(incomplete)] };
}

/** Whatever decompresses: a stream cut short still yields its beginning. */
function gunzipPartial(body: Buffer): string {
  if (!body.length) return '';
  try {
    return gunzipSync(body, { finishFlush: zc.Z_SYNC_FLUSH }).toString('utf8');
  } catch {
    return '';
  }
}

/** The files of readArtifacts, for callers that do not care what was cut. */
export function splitArtifacts(raw: string | Buffer): Record<string, string> {
  return readArtifacts(raw).files;
}
