/**
 * BUG reports: BUG_ON ("kernel BUG at"), list corruption, bad page state,
 * sleeping in atomic context, memory leaks (kmemleak) and other "BUG:" lines.
 */
import { ripThenTrace, traceOnly } from './common.ts';
import { stack, type Format } from './types.ts';

const kind = 'bug' as const;

export const bugFormats: Format[] = [
  {
    header: 'BUG:',
    title: /BUG: scheduling while atomic/,
    fmt: 'BUG: scheduling while atomic in {1}',
    stack: traceOnly(['schedule']),
    kind,
  },
  { header: 'BUG:', title: /BUG: Bad rss-counter state/, fmt: 'BUG: Bad rss-counter state', noStackTrace: true, kind },
  { header: 'BUG:', title: /BUG: non-zero nr_ptes on freeing mm/, fmt: 'BUG: non-zero nr_ptes on freeing mm', noStackTrace: true, kind },
  { header: 'BUG:', title: /BUG: non-zero nr_pmds on freeing mm/, fmt: 'BUG: non-zero nr_pmds on freeing mm', noStackTrace: true, kind },
  {
    // Filesystem type and block device names would split one bug into many.
    header: 'BUG:',
    title: /BUG: Dentry .* still in use/,
    report: [/BUG: Dentry .* still in use \([0-9]+\) \[(unmount) of ([^\]]+)\]/],
    fmt: 'BUG: Dentry still in use in {1}',
    alt: ['BUG: Dentry still in use [{1} of {2}]'],
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: Bad page (state|cache)/,
    fmt: 'BUG: Bad page {1} in {2}',
    stack: stack([/page last allocated/, 'stack'], {
      skip: ['(?:free|put|get|update|release)_page', 'free_unref', '^_*folio', 'truncate_inode_pages', 'page_frag_free', 'alloc', 'vmap', 'page_owner'],
    }),
    kind,
  },
  { header: 'BUG:', title: /BUG: Bad page map/, fmt: 'BUG: Bad page map', kind },
  {
    header: 'BUG:',
    title: /BUG: sleeping function called from invalid context at (.*)/,
    fmt: 'BUG: sleeping function called from invalid context in {2}',
    stack: traceOnly(),
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: workqueue leaked lock or atomic/,
    report: [/BUG: workqueue leaked lock or atomic/, /last function: ([a-zA-Z0-9_]+)$/],
    fmt: 'BUG: workqueue leaked lock or atomic in {1}',
    noStackTrace: true,
    kind,
  },
  {
    header: 'BUG:',
    title: /BUG: memory leak/,
    fmt: 'memory leak in {1}',
    stack: stack([/backtrace(?: \(crc [0-9a-fA-F]*\))?:/, 'stack'], {
      skip: ['kmemleak', 'mmap', 'kmem', 'slab', 'alloc', 'create_object', 'idr_get', 'list_lru_init', 'kasprintf', 'kvasprintf', 'pcpu_create', 'strdup', 'strndup', 'memdup'],
    }),
    kind,
  },
  { header: 'BUG:', title: /BUG:\s*$/, fmt: 'BUG: corrupted', corrupted: true, kind },
  // ---- kernel BUG at file:line (BUG_ON) ----
  {
    header: 'kernel BUG',
    title: /kernel BUG at mm\/usercopy\.c/,
    fmt: 'BUG: bad usercopy in {1}',
    stack: traceOnly(['usercopy', '__check']),
    kind,
  },
  {
    header: 'kernel BUG',
    title: /kernel BUG at lib\/list_debug\.c/,
    fmt: 'BUG: corrupted list in {1}',
    alt: ['bad-access in {1}'],
    stack: traceOnly(),
    kind,
  },
  {
    header: 'kernel BUG',
    title: /kernel BUG at (.*)/,
    fmt: 'kernel BUG in {2}',
    // skb helpers are full of BUG_ON; the caller is at fault
    stack: ripThenTrace(['^skb_']),
    kind,
  },
  { header: 'Kernel BUG', title: /Kernel BUG (.*)/, fmt: 'kernel BUG {1}', kind },
  { header: 'BUG kmalloc-', title: /BUG kmalloc-.*: Object already free/, fmt: 'BUG: Object already free', kind },
  // ---- misc ----
  {
    header: 'Booting the kernel.',
    title: /^Booting the kernel/,
    fmt: 'unexpected kernel reboot',
    noStackTrace: true,
    kind: 'other-crash',
  },
  {
    header: 'unregister_netdevice: waiting for',
    title: /unregister_netdevice: waiting for .* to become free/,
    fmt: 'unregister_netdevice: waiting for DEV to become free',
    noStackTrace: true,
    kind: 'other-crash',
  },
  {
    header: 'VFS: Close: file count is 0',
    title: /VFS: Close: file count is 0/,
    fmt: 'VFS: Close: file count is zero (use-after-free)',
    noStackTrace: true,
    kind: 'other-crash',
  },
  {
    header: 'VFS: Busy inodes after unmount',
    title: /VFS: Busy inodes after unmount/,
    fmt: 'VFS: Busy inodes after unmount (use-after-free)',
    noStackTrace: true,
    kind: 'other-crash',
  },
];
