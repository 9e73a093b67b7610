import { describe, it, expect } from 'vitest';
import { parseLine, parsePrefix, splitLines, decodeLog } from '../../src/console/normalize.ts';
import { canonicalTitle, titleFrame } from '../../src/console/title.ts';
import { demangle } from '../../src/console/demangle.ts';
import { frameNames, hangChooser, stallChooser, stripSyscallPrefix } from '../../src/console/frames.ts';
import { titleToType } from '../../src/console/titletype.ts';

describe('normalize', () => {
  it('splits on \\n, drops \\r, caps long lines', () => {
    expect(splitLines('a\r\nb\rc\n\nd\n')).toEqual(['a', 'bc', '', 'd']);
    expect(splitLines('x'.repeat(10_000))[0]!.length).toBe(2048);
    expect(decodeLog(new Uint8Array([0x41, 0xff, 0x42]))).toBe('A\uFFFDB');
  });

  it('parses printk prefixes', () => {
    expect(parsePrefix('[   18.449791] watchdog: x')).toEqual({ ctx: 'console', textStart: 15 });
    expect(parseLine('[  444.457807][    C0] rcu: INFO')).toMatchObject({ ctx: 'C0', text: 'rcu: INFO' });
    expect(parseLine('[ 1992.224966][   T28] INFO: rcu_tasks')).toMatchObject({ ctx: 'T28', text: 'INFO: rcu_tasks' });
    expect(parseLine('<4>[    1.0] hello')).toMatchObject({ ctx: 'console', text: 'hello' });
    expect(parseLine('** 5 printk messages dropped ** [    1.0] x')).toMatchObject({ ctx: 'console', text: 'x' });
    expect(parseLine('syzkaller login: [    1.0] x')).toMatchObject({ ctx: 'console', text: 'x' });
    expect(parseLine('INIT: done')).toEqual({ ctx: '', text: 'INIT: done', questionable: false });
    expect(parseLine('[   20.8] [1.0] odd')).toMatchObject({ ctx: 'console', text: '[1.0] odd' });
  });

  it('marks unreliable frames', () => {
    expect(parseLine('[   12.7]  ? call_timer_fn+0x130/0x130')).toMatchObject({ questionable: true, text: ' call_timer_fn+0x130/0x130' });
    expect(parseLine('[   12.7]  <EOI> ? foo+0x1/0x2')).toMatchObject({ questionable: false });
    expect(parseLine('[   12.7] [c0000] foo+0x1/0x2 (unreliable)')).toMatchObject({ questionable: true, text: '[c0000] foo+0x1/0x2' });
  });
});

describe('frames', () => {
  it('parses x86 and arm frame lines', () => {
    expect(frameNames(' test_wait+0x7b/0xa0 [test_lockup]')).toEqual(['test_wait']);
    expect(frameNames(' [<ffffffff8100>] p9_client_flush.isra.0+0x1fe/0x420')).toEqual(['p9_client_flush']);
    expect(frameNames('[<c0100000>] (foo) from [<c0200000>] (bar+0x10/0x20)')).toEqual(['foo', 'bar']);
    expect(frameNames('RSP: 0018:ffff888000d7bcd8 EFLAGS: 00000203')).toBeNull();
  });

  it('strips syscall wrapper prefixes (the shortest result wins)', () => {
    expect(stripSyscallPrefix('__x64_sys_recvmmsg')).toBe('sys_recvmmsg');
    expect(stripSyscallPrefix('__do_sys_mount')).toBe('mount');
    expect(stripSyscallPrefix('ksys_ioctl')).toBe('ioctl');
    expect(stripSyscallPrefix('vfs_read')).toBe('vfs_read');
  });

  it('stalls: the frame above the first dispatch point', () => {
    expect(stallChooser(['delay_tsc', 'test_wait', 'test_lockup_init', 'do_one_initcall', 'do_init_module'])).toEqual({ name: 'test_lockup_init', index: 2 });
    expect(stallChooser(['foo', 'sys_rmdir', 'do_syscall_64'])).toEqual({ name: 'sys_rmdir', index: 1 });
    expect(stallChooser(['csd_lock_wait', 'smp_call_function_many_cond', 'on_each_cpu'])).toEqual({ name: 'smp_call_function', index: 1 });
    // user page fault: only when nothing else dispatches
    expect(stallChooser(['__pte_offset_map_lock', 'filemap_map_pages', '__handle_mm_fault', 'handle_mm_fault'])).toEqual({ name: 'filemap_map_pages', index: 1 });
    expect(stallChooser(['a', 'b'])).toBeNull();
  });

  it('hung tasks: rcu and rtnl buckets, else the first non-sleep frame', () => {
    expect(hangChooser(['__schedule', 'schedule', 'synchronize_rcu_expedited', 'foo'])).toEqual({ name: 'synchronize_rcu', index: 2 });
    expect(hangChooser(['schedule', 'mutex_lock_nested', 'rtnl_lock', 'foo'])).toEqual({ name: 'rtnl_lock', index: 2 });
    expect(hangChooser(['__schedule', 'schedule_timeout', 'test_lockup', 'test_lockup_init'])).toEqual({ name: 'test_lockup', index: 2 });
    expect(hangChooser(['__schedule', 'io_schedule', 'folio_wait_bit', 'rwsem_down_read_slowpath', 'ext4_foo'])).toEqual({ name: 'ext4_foo', index: 4 });
  });
});

describe('titles', () => {
  it('canonicalizes numbers, addresses, offsets and executor names', () => {
    expect(canonicalTitle('kernel panic: Out of memory at 0xffffffff81234567 on CPU#3')).toBe('kernel panic: Out of memory at ADDR on CPU');
    expect(canonicalTitle('SYZFAIL: syz-executor.3:12 failed 17 times')).toBe('SYZFAIL: syz-executor failed NUM times');
    expect(canonicalTitle('WARNING in foo+0x12/0x40 at net/core/dev.c:1234')).toBe('WARNING in foo at net/core/dev.c:LINE');
    expect(canonicalTitle('WARNING in cfg80211_x\t\tbar\u0001')).toBe('WARNING in cfg80211_x bar');
    expect(canonicalTitle('x'.repeat(300)).length).toBe(120);
  });

  it('finds the frame a title names', () => {
    expect(titleFrame('INFO: task hung in synchronize_rcu')).toBe('synchronize_rcu');
    expect(titleFrame('WARNING in foo/usb_submit_urb')).toBe('foo');
    expect(titleFrame('attempt to subtract with overflow in <rust_binder::process::Process>::update_ref')).toBe('<rust_binder::process::Process>::update_ref');
    expect(titleFrame('kernel panic: Attempted to kill init!')).toBeNull();
  });

  it('types from titles', () => {
    expect(titleToType('BUG: soft lockup in foo')).toBe('HANG');
    expect(titleToType('INFO: task hung in foo')).toBe('HANG');
    expect(titleToType('WARNING in foo')).toBe('WARNING');
    expect(titleToType('WARNING: refcount bug in foo')).toBe('REFCOUNT_WARNING');
    expect(titleToType('kernel panic: x')).toBe('DoS');
    expect(titleToType('KASAN: use-after-free Read in x')).toBe('KASAN-USE-AFTER-FREE-READ');
    expect(titleToType('something else')).toBe('UNKNOWN');
  });
});

describe('demangle', () => {
  it('Rust v0 and C++ names, unparsable names unchanged', () => {
    expect(demangle('_RNvMs3_NtCshgDM7dBCdno_11rust_binder7processNtB5_7Process10update_ref')).toBe('<rust_binder::process::Process>::update_ref');
    expect(demangle('_RNvCscSpY9Juk0HT_7___rustc17rust_begin_unwind')).toBe('__rustc::rust_begin_unwind');
    expect(demangle('_Z8fakeNameiii')).toBe('fakeName');
    expect(demangle('_ZN3foo3barEv')).toBe('foo::bar');
    expect(demangle('_RNvB999_3foo')).toBe('_RNvB999_3foo');
    expect(demangle('_Z')).toBe('_Z');
    expect(demangle('plain_c_name')).toBe('plain_c_name');
  });
});
