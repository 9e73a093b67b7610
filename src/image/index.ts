/** Guest image stage: static guest binaries, the initramfs, and the guest's command line items. */
export { buildGuestBinaries, GUEST_PROGRAMS, type GuestBinaries, type GuestBinariesOptions } from './guest-binaries.ts';
export { buildInitramfs, findTestLockup, IMAGE_PATHS, type InitramfsOptions, type InitramfsResult } from './initramfs.ts';
export { guestCmdline, SELF_TESTS, type GuestParams } from './guest-cmdline.ts';
export { writeNewc, readNewc, type CpioEntry, type CpioRecord } from './cpio.ts';
