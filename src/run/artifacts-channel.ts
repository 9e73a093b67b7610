/**
 * The guest's second serial port carries bulk data framed as
 *   krepro-artifact-begin <name>
 *   ...
 *   krepro-artifact-end <name>
 * so it never interleaves with the console. A section cut short (the guest
 * died mid-dump) is kept with what arrived.
 */
export function splitArtifacts(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  let name: string | null = null;
  let buf: string[] = [];
  const lines = raw.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  for (const line0 of lines) {
    const line = line0.replace(/\r$/, '');
    const b = /^krepro-artifact-begin (\S+)/.exec(line);
    if (b) {
      if (name) out[name] = buf.join('\n') + '\n';
      name = b[1];
      buf = [];
      continue;
    }
    const e = /^krepro-artifact-end (\S+)/.exec(line);
    if (e && name) {
      out[name] = buf.length ? buf.join('\n') + '\n' : '';
      name = null;
      buf = [];
      continue;
    }
    if (name) buf.push(line);
  }
  if (name) out[name] = buf.join('\n') + '\n';
  return out;
}
