#!/usr/bin/env node
'use strict';

// Parses PowerShell files with the tree-sitter PowerShell grammar and reports,
// per file, syntax errors, commands, string literals, member calls, function
// definitions, param blocks, assignments and #Requires comments as JSON (or
// syntax errors only, as text lines).

const fs = require('node:fs');
const v8 = require('node:v8');

// V8's optimizing wasm tier spends about six seconds of CPU compiling the
// grammar (and the process waits for it before exiting); the baseline
// compiler alone parses a 100 KB script in a fraction of a second.
v8.setFlagsFromString('--liftoff-only');

const { Parser, Language } = require('web-tree-sitter');

const USAGE = 'usage: psparse [--errors-only] FILE...';
const ERROR_TEXT_CHARS = 60;

// PowerShell accepts all five as single-quote characters.
const SINGLE_QUOTES = new Set(['\u0027', '\u2018', '\u2019', '\u201A', '\u201B']);

const STRING_KINDS = {
  verbatim_string_characters: 'verbatim',
  expandable_string_literal: 'expandable',
  verbatim_here_string_characters: 'verbatim-here',
  expandable_here_string_literal: 'expandable-here',
};

async function loadParser() {
  await Parser.init();
  const wasm = require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm');
  const parser = new Parser();
  parser.setLanguage(await Language.load(wasm));
  return parser;
}

function decodeFile(bytes) {
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(start));
}

// Maps UTF-16 offsets (what web-tree-sitter reports for a JS string) to
// 1-based line and column, lines split on \n, columns counted in code points.
function positionMapper(src) {
  const lineStarts = [0];
  for (let i = src.indexOf('\n'); i !== -1; i = src.indexOf('\n', i + 1)) {
    lineStarts.push(i + 1);
  }
  const hasSurrogates = /[\uD800-\uDFFF]/.test(src);
  return (index) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    const prefix = src.slice(lineStarts[lo], index);
    const column = hasSurrogates ? Array.from(prefix).length : prefix.length;
    return { line: lo + 1, column: column + 1 };
  };
}

function firstChars(text, n) {
  return Array.from(text.slice(0, 2 * n)).slice(0, n).join('');
}

// PowerShell's tokenizer: inside '...' a quote character followed by another
// quote character is an escaped pair and the SECOND character of the pair is
// kept ('a‘’b' is a’b); any other quote character ends the literal.
// Returns null when PowerShell would end the literal somewhere other than
// where the grammar ends it (the grammar only knows the ASCII quote, so a lone
// curly quote inside, or one just before the closing quote, makes the two
// disagree); such a literal has no value PowerShell would agree with.
function verbatimValue(raw) {
  let value = '';
  for (let i = 1; i < raw.length; i++) {
    let c = raw[i];
    if (SINGLE_QUOTES.has(c)) {
      if (!SINGLE_QUOTES.has(raw[i + 1])) return i === raw.length - 1 ? value : null;
      c = raw[++i];
    }
    value += c;
  }
  return null;
}

// @'<spaces><newline>body<newline>'@ : the value is body, taken verbatim.
function verbatimHereValue(raw) {
  const header = /^@'[^\S\r\n]*(?:\r\n|\r|\n)/.exec(raw)[0];
  return raw.slice(header.length, -2).replace(/(?:\r\n|\r|\n)$/, '');
}

function commandElements(command, src) {
  const list = command.childForFieldName('command_elements');
  if (!list) return [];
  const spans = [];
  let bound = false;
  for (const child of list.namedChildren) {
    if (child.type === 'comment') continue;
    if (child.type === 'command_argument_sep') {
      // -Name:value binds the value to the parameter: keep both as one element.
      if (child.text === ':' && spans.length > 0) {
        spans[spans.length - 1][1] = child.endIndex;
        bound = true;
      }
      continue;
    }
    if (bound) spans[spans.length - 1][1] = child.endIndex;
    else spans.push([child.startIndex, child.endIndex]);
    bound = false;
  }
  return spans.map(([start, end]) => src.slice(start, end));
}

// `.ForEach{ ... }` has no member_name node: the name is the source between
// the invoked expression and the script block.
function foreachCallName(node, src) {
  const target = node.namedChild(0);
  const block = node.namedChild(node.namedChildCount - 1);
  const between = src.slice(target.endIndex, block.startIndex);
  const offset = between.indexOf('.') + 1;
  return { name: between.slice(offset).trim(), index: target.endIndex + offset };
}

function analyze(parser, file, src) {
  const tree = parser.parse(src);
  const at = positionMapper(src);
  const result = {
    file,
    errors: [],
    commands: [],
    strings: [],
    nodeTypes: [],
    memberCalls: [],
    requires: [],
    functions: [],
    paramBlocks: [],
    assignments: [],
  };
  const nodeTypes = new Set();
  const functions = [];
  let scriptBlockDepth = 0;

  const enter = (cursor) => {
    const type = cursor.nodeType;
    if (cursor.nodeIsMissing) {
      // A missing node has no source text; report the token the grammar expected.
      result.errors.push({ ...at(cursor.startIndex), kind: 'MISSING', text: type });
      return;
    }
    if (cursor.nodeIsNamed) nodeTypes.add(type);
    switch (type) {
      case 'ERROR': {
        const text = src.slice(cursor.startIndex, cursor.endIndex);
        result.errors.push({ ...at(cursor.startIndex), kind: 'ERROR', text: firstChars(text, ERROR_TEXT_CHARS) });
        break;
      }
      case 'command': {
        const node = cursor.currentNode;
        result.commands.push({
          name: node.childForFieldName('command_name')?.text ?? '',
          ...at(node.startIndex),
          elements: commandElements(node, src),
          function: functions.length ? functions[functions.length - 1] : '',
          scriptblockDepth: scriptBlockDepth,
        });
        break;
      }
      case 'function_statement': {
        const node = cursor.currentNode;
        const name = node.namedChildren.find((c) => c.type === 'function_name');
        result.functions.push({
          name: name ? name.text : '',
          ...at(node.startIndex),
          function: functions.length ? functions[functions.length - 1] : '',
          scriptblockDepth: scriptBlockDepth,
        });
        functions.push(name ? name.text : '');
        break;
      }
      case 'param_block': {
        const node = cursor.currentNode;
        const list = node.namedChildren.find((c) => c.type === 'parameter_list');
        const params = (list ? list.namedChildren : [])
          .filter((c) => c.type === 'script_parameter')
          .map((p) => {
            const variable = p.namedChildren.find((c) => c.type === 'variable');
            const value = p.namedChildren.find((c) => c.type === 'script_parameter_default')?.namedChildren[0];
            const type = (p.namedChildren.find((c) => c.type === 'attribute_list')?.namedChildren ?? [])
              .map((attribute) => attribute.namedChildren.find((c) => c.type === 'type_literal'))
              .find((literal) => literal);
            return {
              name: variable ? variable.text : '',
              type: type ? type.text : '',
              default: value ? value.text : null,
              ...(value ? { defaultAt: at(value.startIndex) } : {}),
            };
          });
        result.paramBlocks.push({
          ...at(node.startIndex),
          function: functions.length ? functions[functions.length - 1] : '',
          scriptblockDepth: scriptBlockDepth,
          params,
        });
        break;
      }
      case 'assignment_expression': {
        const node = cursor.currentNode;
        const left = node.namedChildren.find((c) => c.type === 'left_assignment_expression');
        const operator = node.namedChildren.find((c) => c.type === 'assignement_operator');
        const value = node.namedChildren[node.namedChildren.length - 1];
        result.assignments.push({
          variable: left ? left.text : '',
          operator: operator ? operator.text : '',
          value: value ? value.text : '',
          ...at(node.startIndex),
          valueAt: value ? at(value.startIndex) : at(node.endIndex),
          function: functions.length ? functions[functions.length - 1] : '',
          scriptblockDepth: scriptBlockDepth,
        });
        break;
      }
      case 'script_block_expression':
        scriptBlockDepth++;
        break;
      case 'invokation_expression': {
        const name = cursor.currentNode.namedChildren.find((c) => c.type === 'member_name');
        if (name) result.memberCalls.push({ name: name.text, ...at(name.startIndex) });
        break;
      }
      case 'invokation_foreach_expression': {
        const call = foreachCallName(cursor.currentNode, src);
        result.memberCalls.push({ name: call.name, ...at(call.index) });
        break;
      }
      case 'comment': {
        const text = cursor.nodeText;
        if (/^#requires(?=\s|$)/i.test(text)) result.requires.push(text);
        break;
      }
      default:
        if (type in STRING_KINDS) {
          const raw = cursor.nodeText;
          const kind = STRING_KINDS[type];
          let value = null;
          if (kind === 'verbatim') value = verbatimValue(raw);
          else if (kind === 'verbatim-here') value = verbatimHereValue(raw);
          result.strings.push({ value, raw, ...at(cursor.startIndex), kind });
        }
    }
  };

  const leave = (cursor) => {
    if (cursor.nodeType === 'function_statement') functions.pop();
    else if (cursor.nodeType === 'script_block_expression') scriptBlockDepth--;
  };

  const cursor = tree.walk();
  let entering = true;
  for (;;) {
    if (entering) {
      enter(cursor);
      if (cursor.gotoFirstChild()) continue;
    }
    leave(cursor);
    if (cursor.gotoNextSibling()) {
      entering = true;
    } else if (cursor.gotoParent()) {
      entering = false;
    } else {
      break;
    }
  }
  cursor.delete();
  tree.delete();

  result.nodeTypes = [...nodeTypes].sort();
  return result;
}

function parseArgs(argv) {
  let errorsOnly = false;
  const files = [];
  for (const arg of argv) {
    if (arg === '--errors-only') errorsOnly = true;
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else files.push(arg);
  }
  if (files.length === 0) throw new Error('no input files');
  return { errorsOnly, files };
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`psparse: ${err.message}\n${USAGE}\n`);
    return 2;
  }

  const sources = [];
  for (const file of options.files) {
    try {
      sources.push(decodeFile(fs.readFileSync(file)));
    } catch (err) {
      const reason = err instanceof TypeError ? 'not valid UTF-8' : err.message;
      process.stderr.write(`psparse: cannot read ${file}: ${reason}\n`);
      return 2;
    }
  }

  const parser = await loadParser();
  const results = options.files.map((file, i) => analyze(parser, file, sources[i]));
  parser.delete();

  if (options.errorsOnly) {
    const lines = results.flatMap((r) =>
      r.errors.map((e) => `${r.file}:${e.line}:${e.column}: syntax error (${e.kind}) near ${JSON.stringify(e.text)}\n`),
    );
    process.stdout.write(lines.join(''));
  } else {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  }
  return results.some((r) => r.errors.length > 0) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`psparse: ${err.stack || err}\n`);
    process.exitCode = 2;
  },
);
