import { mkdir, open, rename, writeFile, rm, stat, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { dirname } from 'node:path';

/** Write a file so readers see either the old or the new content, never half. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export async function rmrf(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export { writeFile };

/** A JSON record of krepro's (run.json, loop.json, bisect.json): its `schema` tag names its one type. */
export type RecordFile<S extends string> = { schema: S };

/**
 * Read a record and check its schema tag: the one place a parsed record
 * becomes its type. Null when the file is missing or unreadable JSON;
 * throws when the file holds another record (the message names the schema
 * found), so a reader never works on the wrong shape.
 */
export async function readRecord<T extends RecordFile<string>>(path: string, schema: T['schema']): Promise<T | null> {
  let v: unknown;
  try {
    v = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
  const found = v && typeof v === 'object' ? (v as { schema?: unknown }).schema : undefined;
  if (found !== schema) throw new Error(`${path} is not a ${schema} record (schema ${JSON.stringify(found ?? null)})`);
  return v as T;
}
