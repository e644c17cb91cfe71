// The lab layer in one import (package subpath 'tcplab/lab'): the runner, expectations and reports.
export { runLab, type RunOptions } from './runner.js';
export type { Lab, LabCase, LabRoles, CaseContext, CheckSpec, TimingCheckSpec } from './types.js';
export { anyVersion, resolveExpectation, satisfies, describeExpected, type Expected, type Expectation, type ExpectRule, type Observed } from './expect.js';
export { localStack, parseVersion, inRange, STACK_OSES, type StackInfo, type StackOs, type KnownOs } from './kernel.js';
export { worst, type Verdict, type LabResult, type CaseResult, type CheckResult } from './result.js';
export type { LiveObserver, LiveCase, LiveStep, LiveSnapshot } from './live.js';
