/** Stack specs shared by several report kinds. */
import { CALL_TRACE, RIP_FRAME } from '../frames.ts';
import { rx, stack, type StackSpec } from './types.ts';

/** Faulting IP, then the call trace: oopses, faults, kernel BUG. */
export const ripThenTrace = (skip: string[] = []): StackSpec => stack([RIP_FRAME, CALL_TRACE, 'stack'], { skip });

/** Only the call trace. */
export const traceOnly = (skip: string[] = []): StackSpec => stack([CALL_TRACE, 'stack'], { skip });

/** Only the faulting IP. */
export const ripOnly = (): StackSpec => stack([RIP_FRAME]);

const WARN_TRAP = rx(`(?:${RIP_FRAME.source}|--- interrupt: [0-9]+ at {{FUNC}})`);

/**
 * WARNINGs: newer kernels trap (RIP line, then the stack), older ones print
 * the stack after "Call Trace:". powerpc starts with "--- interrupt:".
 */
export const warningStack = (...skip: string[]): StackSpec =>
  stack([WARN_TRAP, 'stack'], { skip, parts2: [CALL_TRACE, 'stack'] });
