/**
 * The cpio "newc" format (what the kernel unpacks as an initramfs), written
 * and read in memory. Pure: no file system access.
 *
 * Each record: a 110-byte ASCII header ("070701" and 13 eight-digit hex
 * fields), the NUL-terminated name padded to 4 bytes, the data padded to 4
 * bytes. The archive ends with a record named "TRAILER!!!".
 */

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

export interface CpioRecord {
  name: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  data: Buffer;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

const MAGIC = '070701';
const HEADER_LEN = 110;
const TRAILER = 'TRAILER!!!';

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function normalize(path: string): string {
  const p = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!p || p.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new Error(`bad cpio path: ${JSON.stringify(path)}`);
  }
  return p;
}

function header(fields: number[], nameLen: number): string {
  const all = [...fields, nameLen, 0];
  return MAGIC + all.map((v) => (v >>> 0).toString(16).padStart(8, '0')).join('');
}

/**
 * Serialize entries as a newc archive. Parent directories are added when
 * missing and always come before their contents (the kernel's unpacker does
 * not create them). All owners are root and all times 0, so the same inputs
 * give the same bytes.
 */
export function writeNewc(entries: CpioEntry[]): Buffer {
  const byPath = new Map<string, CpioEntry>();
  for (const e of entries) {
    const path = normalize(e.path);
    if (byPath.has(path)) throw new Error(`duplicate cpio path: ${path}`);
    byPath.set(path, { ...e, path });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const have = byPath.get(dir);
      if (!have) byPath.set(dir, { type: 'dir', path: dir });
      else if (have.type !== 'dir') throw new Error(`cpio path ${dir} is not a directory`);
    }
  }
  // Sorting by path puts every directory before what it contains.
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const chunks: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, nlink: number, data: Buffer, rdev: [number, number]) => {
    const nameBuf = Buffer.from(name + '\0', 'utf8');
    const h = header([ino++, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0], rdev[1]], nameBuf.length);
    chunks.push(Buffer.from(h, 'ascii'), nameBuf, Buffer.alloc(pad4(HEADER_LEN + nameBuf.length)));
    chunks.push(data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of sorted) {
    switch (e.type) {
      case 'dir':
        push(e.path, S_IFDIR | (e.mode ?? 0o755), 2, Buffer.alloc(0), [0, 0]);
        break;
      case 'file':
        push(e.path, S_IFREG | (e.mode ?? 0o644), 1, Buffer.from(e.data), [0, 0]);
        break;
      case 'symlink':
        push(e.path, S_IFLNK | 0o777, 1, Buffer.from(e.target, 'utf8'), [0, 0]);
        break;
      case 'chardev':
        push(e.path, S_IFCHR | (e.mode ?? 0o600), 1, Buffer.alloc(0), [e.major, e.minor]);
        break;
    }
  }
  ino = 0;
  push(TRAILER, 0, 1, Buffer.alloc(0), [0, 0]);
  return Buffer.concat(chunks);
}

/** Parse a newc archive (uncompressed); stops at the trailer. Throws on malformed input. */
export function readNewc(buf: Uint8Array): CpioRecord[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: CpioRecord[] = [];
  let off = 0;
  for (;;) {
    if (off + HEADER_LEN > b.length) throw new Error(`cpio: truncated header at offset ${off}`);
    const magic = b.toString('ascii', off, off + 6);
    if (magic !== MAGIC) throw new Error(`cpio: bad magic ${JSON.stringify(magic)} at offset ${off}`);
    const f: number[] = [];
    for (let i = 0; i < 13; i++) {
      const hex = b.toString('ascii', off + 6 + i * 8, off + 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(hex)) throw new Error(`cpio: bad header field at offset ${off}`);
      f.push(parseInt(hex, 16));
    }
    const [ino, mode, uid, gid, nlink, mtime, size, devmajor, devminor, rdevmajor, rdevminor, namesize] = f;
    const nameStart = off + HEADER_LEN;
    if (namesize < 1 || nameStart + namesize > b.length) throw new Error(`cpio: bad name size at offset ${off}`);
    const name = b.toString('utf8', nameStart, nameStart + namesize - 1);
    const dataStart = nameStart + namesize + pad4(HEADER_LEN + namesize);
    if (dataStart + size > b.length) throw new Error(`cpio: truncated data of ${name}`);
    off = dataStart + size + pad4(size);
    if (name === TRAILER) break;
    out.push({
      name, ino, mode, uid, gid, nlink, mtime, devmajor, devminor, rdevmajor, rdevminor,
      data: b.subarray(dataStart, dataStart + size),
    });
  }
  return out;
}
