// The component the sandbox's tests load (sandbox/tests/all/typescript_tools.rs): the examples
// and the hostile tools in one component, so the tests compile one SpiderMonkey instead of two.
// Never served by a tool set of policies/ (the hostile tools are in it).
import { exportTools } from 'mcp-tool';
import { echo } from './echo';
import { call, escape, fetchOut, hugeOutput, memoryBomb, raise, refuse, spin, stdoutFlood } from './hostile';
import { stats, transform } from './text_transform';

export const tool = exportTools(
  echo,
  transform,
  stats,
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
