#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader: no build step between editing and running.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../functions/src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
