'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const TOOL = path.join(__dirname, '..', 'psparse.js');
const fixture = (name) => path.join(__dirname, name);

function run(...args) {
  const r = spawnSync(process.execPath, [TOOL, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function parse(...files) {
  const r = run(...files);
  assert.equal(r.stderr, '');
  return { code: r.code, results: JSON.parse(r.stdout) };
}

test('fixtures use CRLF line endings', () => {
  for (const name of fs.readdirSync(__dirname).filter((n) => n.endsWith('.ps1'))) {
    const text = fs.readFileSync(fixture(name), 'latin1');
    assert.match(text, /\r\n/, name);
    assert.doesNotMatch(text, /[^\r]\n/, name);
  }
});

test('valid PowerShell 3.0 script: no errors, commands in source order', () => {
  const { code, results } = parse(fixture('valid-ps3.ps1'));
  assert.equal(code, 0);
  const [r] = results;
  assert.equal(r.file, fixture('valid-ps3.ps1'));
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.commands.map((c) => c.name), [
    'Write-Host',
    'Stop-CsWindowsService',
    'powershell.exe',
    'Import-Module',
    'Stop-CsWindowsService',
    'Get-Service',
    'Where-Object',
    'Stop-Service',
    'Write-Warning',
    'Stop-FrontEnd',
    'Get-Item',
    'Invoke-Command',
    'Get-CsPool',
  ]);
  assert.deepEqual(r.commands[1], {
    name: 'Stop-CsWindowsService',
    line: 17,
    column: 5,
    elements: ['-Update', '-ConfiguredDatabases', '-SqlServerFqdn', '$SqlServerFqdn'],
    function: 'Stop-FrontEnd',
    scriptblockDepth: 0,
  });
  assert.deepEqual(r.commands[2].elements, [
    '-NoProfile',
    '-Command',
    '{ Import-Module Lync; Stop-CsWindowsService }',
  ]);
  assert.deepEqual(r.commands[4], {
    name: 'Stop-CsWindowsService',
    line: 20,
    column: 60,
    elements: [],
    function: '',
    scriptblockDepth: 1,
  });
  assert.deepEqual(r.commands[7].elements, ['-Name', '$service.Name', '-Force:$true']);
  assert.deepEqual(r.requires, ['#Requires -Version 3.0']);
  assert.deepEqual(r.memberCalls, [{ name: 'GetFileName', line: 30, column: 32 }]);
  assert.ok(r.nodeTypes.includes('function_statement'));
  assert.deepEqual(r.nodeTypes, [...new Set(r.nodeTypes)].sort());
});

test('enclosing function and script block depth', () => {
  const [r] = parse(fixture('valid-ps3.ps1')).results;
  const byName = (name) => r.commands.find((c) => c.name === name);
  assert.equal(byName('Get-Item').function, 'Foo');
  assert.equal(byName('Invoke-Command').function, 'Invoke-OnPool');
  assert.equal(byName('Get-CsPool').function, 'Invoke-OnPool');
  assert.equal(byName('Get-CsPool').scriptblockDepth, 1);
  assert.equal(byName('Stop-FrontEnd').function, '');
});

test('unclosed brace is reported on the line where the parser runs out', () => {
  const { code, results } = parse(fixture('unclosed-brace.ps1'));
  assert.equal(code, 1);
  assert.deepEqual(results[0].errors, [{ line: 6, column: 18, kind: 'MISSING', text: '}' }]);
});

test('verbatim string values follow the PowerShell quote rules', () => {
  const [r] = parse(fixture('strings.ps1')).results;
  assert.deepEqual(r.errors, []);
  assert.deepEqual(
    r.strings.map((s) => [s.kind, s.value]),
    [
      ['verbatim', "it's"],
      ['verbatim', 'a\u2018b'],
      ['verbatim', 'x\u2019y'],
      ['verbatim', 'm\u2019n'],
      ['verbatim', ''],
      ['expandable', null],
      ['verbatim-here', "line one\r\n  'quoted'"],
      ['verbatim', ','],
    ],
  );
  assert.deepEqual(r.strings[0], { value: "it's", raw: "'it''s'", line: 1, column: 6, kind: 'verbatim' });
  assert.equal(r.strings[5].raw, '"expandable $a"');
});

test('a lone curly quote inside a verbatim string has no value', () => {
  const [r] = parse(fixture('lone-curly-quote.ps1')).results;
  assert.deepEqual(r.strings.map((s) => s.value), [null, null]);
});

test('method calls are reported in memberCalls', () => {
  const [r] = parse(fixture('strings.ps1')).results;
  assert.deepEqual(r.memberCalls, [
    { name: 'Where', line: 11, column: 9 },
    { name: 'Join', line: 12, column: 16 },
  ]);
});

test('UTF-8 BOM is stripped', () => {
  const { code, results } = parse(fixture('bom.ps1'));
  assert.equal(code, 0);
  const [r] = results;
  assert.deepEqual(r.requires, ['#requires -Version 3.0']);
  assert.deepEqual(r.commands[0], {
    name: 'Get-Date',
    line: 2,
    column: 1,
    elements: ['-Format', "'yyyy'"],
    function: '',
    scriptblockDepth: 0,
  });
});

test('PowerShell 7 ternary and null-coalescing operators are syntax errors', () => {
  for (const name of ['ps7-ternary.ps1', 'ps7-null-coalescing.ps1']) {
    const { code, results } = parse(fixture(name));
    assert.equal(code, 1, name);
    assert.ok(results[0].errors.length > 0, name);
    assert.ok(results[0].errors.every((e) => e.line === 2 && e.kind === 'ERROR'), name);
  }
});

test('--errors-only prints one line per problem, nothing when clean', () => {
  const clean = run('--errors-only', fixture('valid-ps3.ps1'), fixture('bom.ps1'));
  assert.equal(clean.code, 0);
  assert.equal(clean.stdout, '');

  const broken = run('--errors-only', fixture('unclosed-brace.ps1'));
  assert.equal(broken.code, 1);
  assert.equal(broken.stdout, `${fixture('unclosed-brace.ps1')}:6:18: syntax error (MISSING) near "}"\n`);
});

test('usage errors and unreadable files exit 2', () => {
  for (const args of [[], ['--bogus', fixture('bom.ps1')], [fixture('no-such-file.ps1')]]) {
    const r = run(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^psparse: /);
  }
});

test('many large files in one invocation, results in argument order', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psparse-'));
  try {
    const block = "function F$i {\r\n    Write-Host 'line $i' -ForegroundColor Green\r\n}\r\n";
    const body = Array.from({ length: 1500 }, (_, i) => block.replaceAll('$i', String(i))).join('');
    assert.ok(body.length > 100 * 1024);
    const files = Array.from({ length: 5 }, (_, i) => path.join(dir, `big${i}.ps1`));
    files.forEach((f) => fs.writeFileSync(f, body));
    const { code, results } = parse(...files);
    assert.equal(code, 0);
    assert.deepEqual(results.map((r) => r.file), files);
    for (const r of results) {
      assert.equal(r.commands.length, 1500);
      assert.deepEqual(r.commands[1499], {
        name: 'Write-Host',
        line: 4499,
        column: 5,
        elements: ["'line 1499'", '-ForegroundColor', 'Green'],
        function: 'F1499',
        scriptblockDepth: 0,
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('function definitions, param blocks and assignments', () => {
  const { results } = parse(fixture('valid-ps3.ps1'));
  const [r] = results;
  assert.deepEqual(
    r.functions.map((f) => [f.name, f.function, f.scriptblockDepth]),
    [['Stop-FrontEnd', '', 0], ['Foo', '', 0], ['Invoke-OnPool', '', 0]],
  );
  assert.deepEqual(
    r.paramBlocks.map((b) => [b.function, b.params.map((p) => [p.name, p.type, p.default])]),
    [
      ['', [['$SqlServerFqdn', '[string]', null]]],
      ['Stop-FrontEnd', [['$Pool', '[string]', null]]],
    ],
  );
  const preference = r.assignments.find((a) => a.variable === '$ErrorActionPreference');
  assert.equal(preference.operator, '=');
  assert.equal(preference.value, "'Stop'");
  assert.equal(preference.function, '');
});
