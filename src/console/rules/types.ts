/**
 * The shape of a classification rule.
 *
 * A report starts at a line containing a group's `header` ("BUG:",
 * "WARNING:", ...). The group's formats are then tried against the report's
 * lines; the format whose title matches earliest wins and builds the title
 * from its template: `{1}`, `{2}`, ... are the regex captures followed by the
 * frames chosen by the stack spec.
 */
import type { DetectionKind } from '../types.ts';
import { FUNC, PC, SRC, skipRegex, type FrameChooser } from '../frames.ts';

/** 'stack' = parse stack frames from here until the next stack start. */
export type StackPart = RegExp | 'stack';

export interface StackSpec {
  /** matched line by line in order; capture groups of a regex part yield frames */
  parts: StackPart[];
  /** tried when `parts` gives no usable frame */
  parts2?: StackPart[];
  /** and then this (our addition for newer kernels) */
  parts3?: StackPart[];
  /** frames this rule never names, besides the common skip list (frames.ts) */
  skip: RegExp | null;
  /** picks the named frame among the kept ones; default: the first */
  chooser?: FrameChooser;
}

export interface Format {
  header: string;
  /** matched on one line of the report */
  title: RegExp;
  /** lines that must follow the title line, in order (captures appended) */
  titleNext?: RegExp[];
  /** a stricter sequence of lines; if the title matches but this does not, the report is corrupted */
  report?: RegExp[];
  fmt: string;
  alt?: string[];
  stack?: StackSpec;
  /** the report is complete without a stack trace */
  noStackTrace?: boolean;
  /** this title always means a garbled report */
  corrupted?: boolean;
  /**
   * Our addition: tried where an earlier format matched the same line but
   * could read no stack (its title would say "corrupted").
   */
  fallback?: boolean;
  /** live-detection kind when this format matches the first line */
  kind?: DetectionKind;
}

export interface OopsGroup {
  header: string;
  kind: DetectionKind;
  /** lines with the header that are not reports */
  suppress: RegExp[];
  formats: Format[];
}

/** Build a regex from a template with {{PC}}, {{FUNC}}, {{SRC}}, {{ADDR}}, {{TASK}}. */
export function rx(src: string, flags = ''): RegExp {
  return new RegExp(
    src
      .replaceAll('{{ADDR}}', '0x[0-9a-f]+')
      .replaceAll('{{PC}}', PC)
      .replaceAll('{{FUNC}}', FUNC)
      .replaceAll('{{SRC}}', SRC)
      .replaceAll('{{TASK}}', '.{0,100}?'),
    flags,
  );
}

/** A stack spec with the common skip list plus `skip`. */
export function stack(
  parts: StackPart[],
  opts: { skip?: string[]; parts2?: StackPart[]; parts3?: StackPart[]; chooser?: FrameChooser } = {},
): StackSpec {
  return {
    parts,
    parts2: opts.parts2,
    parts3: opts.parts3,
    skip: skipRegex(opts.skip ?? []),
    chooser: opts.chooser,
  };
}
