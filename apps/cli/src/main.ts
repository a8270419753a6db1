#!/usr/bin/env node
/** herald: placeholder until the CLI lands. */
process.stdout.write("herald\n");
