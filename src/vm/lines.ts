import { StringDecoder } from 'node:string_decoder';

/**
 * VM output as lines, the one splitter both launchers use: bytes are decoded
 * as UTF-8 across chunk boundaries, split at '\n', CRs dropped. A single
 * enormous line (a flood without newlines) is cut at 1 MiB rather than
 * buffered forever; `end()` hands over what is left.
 */
export interface LineSplitter {
  data(chunk: Buffer): void;
  end(): void;
}

export const MAX_LINE = 1 << 20;

export function lineSplitter(onLine: (line: string) => void, onText?: (text: string) => void): LineSplitter {
  const dec = new StringDecoder('utf8');
  let pending = '';
  const take = (text: string) => {
    onText?.(text);
    pending += text;
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i).replace(/\r/g, '');
      pending = pending.slice(i + 1);
      onLine(line);
    }
    if (pending.length > MAX_LINE) {
      onLine(pending.replace(/\r/g, ''));
      pending = '';
    }
  };
  return {
    data: (chunk) => take(dec.write(chunk)),
    end: () => {
      take(dec.end());
      if (pending) onLine(pending.replace(/\r/g, ''));
      pending = '';
    },
  };
}
