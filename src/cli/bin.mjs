#!/usr/bin/env node
// The operator CLI. It runs the TypeScript sources through tsx (a dependency installed by
// `npm ci`), so the CLI is exactly the code the Lambda functions are built from, with no build step.
import { register } from 'tsx/esm/api';

// The SDK warns on every run under Node 20 about its future Node 22 requirement; this package
// declares its engines, so the warning only hides the output. An explicit setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
const { main } = await import('./main.ts');
const { processIo } = await import('./output.ts');

process.exitCode = await main(process.argv.slice(2), processIo());
