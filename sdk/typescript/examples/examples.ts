// The TypeScript examples served in the `examples` tool set, as one component: `ts_echo`
// (echo.ts), `ts_text_transform` and `ts_text_stats` (text_transform.ts). Each also builds
// alone; they are served together because every JavaScript component embeds its own
// SpiderMonkey (~12 MB) that the sandbox compiles once per component.
import { exportTools } from 'mcp-tool';
import { echo } from './echo';
import { stats, transform } from './text_transform';

export const tool = exportTools(echo, transform, stats);
