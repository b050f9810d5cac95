// The component the sandbox's tests load beside the served examples
// (sandbox/tests/all/typescript_tools.rs): the hostile tools and the context tools. Never served
// by a tool set of policies/ (the hostile tools are in it). The examples themselves (ts_echo,
// ...) are in ts_examples.wasm, which the examples tool set serves and the same tests check.
import { exportTools } from 'mcp-tool';
import { call, escape, fetchOut, hugeOutput, memoryBomb, raise, refuse, spin, stdoutFlood } from './hostile';

export const tool = exportTools(
  spin,
  memoryBomb,
  stdoutFlood,
  hugeOutput,
  fetchOut,
  escape,
  raise,
  call,
  refuse,
);
