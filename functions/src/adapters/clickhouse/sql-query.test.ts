import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boundParams, checkSqlQuery, parameterMode, parameterModeOf, queryRows, renderSql, runCommand, SqlParamsError, sqlParamTypes,
  type SqlClient, type SqlQuery,
} from './sql-query.js';

const render = (sql: string, params: SqlQuery['params']): string => renderSql({ sql, params });

describe('renderSql: each placeholder becomes a literal of its declared Type', () => {
  it('String: quoted, with every character that could end or bend the literal escaped', () => {
    expect(render('SELECT {s:String}', { s: 'plain' })).toBe("SELECT 'plain'");
    expect(render('SELECT {s:String}', { s: '' })).toBe("SELECT ''");
    expect(render('SELECT {s:String}', { s: "it's" })).toBe("SELECT 'it\\'s'");
    expect(render('SELECT {s:String}', { s: 'a\\b' })).toBe("SELECT 'a\\\\b'");
    expect(render('SELECT {s:String}', { s: "\\'; DROP TABLE events; --" })).toBe("SELECT '\\\\\\'; DROP TABLE events; --'");
    expect(render('SELECT {s:String}', { s: 'a\0b\nc\rd\te' })).toBe("SELECT 'a\\0b\\nc\\rd\\te'");
    expect(render('SELECT {s:String}', { s: 'é😀\u202e' })).toBe("SELECT 'é😀\u202e'");
  });

  it('a value that looks like a placeholder stays a value (one pass over the template)', () => {
    expect(render('SELECT {a:String}, {b:String}', { a: '{b:String}', b: 'x' })).toBe("SELECT '{b:String}', 'x'");
    expect(render('SELECT {a:String}', { a: '{a:String}}{' })).toBe("SELECT '{a:String}}{'");
  });

  it('a string literal cannot be left early, whatever the value (property)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (value) => {
      const body = render('{s:String}', { s: value }).slice(1, -1);
      // Inside the literal every quote is escaped by an odd run of backslashes, and the literal
      // does not end on a dangling backslash; no raw NUL or line break.
      expect(/(^|[^\\])(\\\\)*'/.test(body)).toBe(false);
      expect(/(^|[^\\])(\\\\)*\\$/.test(body)).toBe(false);
      expect(/[\0\n\r]/.test(body)).toBe(false);
    }), { numRuns: 500, seed: 13 });
  });

  it('Int8..Int64 and UInt8..UInt64: plain integer literals, numbers or bigints, within the Type', () => {
    expect(render('LIMIT {o:UInt64}, {l:UInt64}', { o: 0, l: 1000 })).toBe('LIMIT 0, 1000');
    expect(render('SELECT {a:Int64}, {b:Int64}', { a: -(2n ** 63n), b: 2n ** 63n - 1n })).toBe('SELECT -9223372036854775808, 9223372036854775807');
    expect(render('SELECT {a:Int8}, {b:Int8}, {c:UInt8}', { a: -128, b: 127, c: 255 })).toBe('SELECT -128, 127, 255');
    expect(render('SELECT {a:Int16}, {b:UInt16}', { a: -32_768, b: 65_535 })).toBe('SELECT -32768, 65535');
    expect(render('SELECT {a:Int32}, {b:UInt32}', { a: -(2 ** 31), b: 2 ** 32 - 1 })).toBe('SELECT -2147483648, 4294967295');
    expect(render('SELECT {a:Int64}', { a: Number.MAX_SAFE_INTEGER })).toBe('SELECT 9007199254740991');
  });

  it('DateTime: toDateTime of whole seconds since 1970', () => {
    expect(render('WHERE t >= {from:DateTime}', { from: 1_700_000_000 })).toBe('WHERE t >= toDateTime(1700000000)');
    expect(render('SELECT {a:DateTime}, {b:DateTime}', { a: 0, b: 2 ** 32 - 1 })).toBe('SELECT toDateTime(0), toDateTime(4294967295)');
  });

  it('Array(String): a typed array of string literals, also when empty', () => {
    expect(render('SELECT has({t:Array(String)}, x)', { t: ['events', "o'k"] })).toBe("SELECT has(CAST(['events', 'o\\'k'] AS Array(String)), x)");
    expect(render('SELECT {t:Array(String)}', { t: [] })).toBe('SELECT CAST([] AS Array(String))');
  });

  it('a name used twice takes the same value each time', () => {
    expect(render('{t:String} = {t:String}', { t: 'x' })).toBe("'x' = 'x'");
    expect(checkSqlQuery({ sql: '{t:String} = {t:String} AND {n:Int64}', params: { t: 'x', n: 1 } })).toEqual([{ name: 't', type: 'String' }, { name: 'n', type: 'Int64' }]);
  });
});

describe('checkSqlQuery: template and params must agree exactly, values must fit (both paths)', () => {
  const refused = (sql: string, params: SqlQuery['params'], message: RegExp): void => {
    expect(() => renderSql({ sql, params })).toThrow(SqlParamsError);
    expect(() => renderSql({ sql, params })).toThrow(message);
    expect(() => boundParams({ sql, params })).toThrow(message);
  };

  it('refuses a placeholder without a value, and a value without a placeholder (never renders an empty value)', () => {
    refused('SELECT {a:String}, {b:String}', { a: 'x' }, /SQL param b \(String\) has no value/);
    refused('SELECT {a:String}', { a: 'x', b: 'y' }, /SQL params b have no placeholder/);
    refused('SELECT 1', { tenantId: 't' }, /SQL params tenantId have no placeholder/);
    // Inherited names are not values.
    refused('SELECT {constructor:String}', {}, /constructor \(String\) has no value/);
    refused('SELECT {toString:String}', {}, /toString \(String\) has no value/);
  });

  it('refuses an unsupported Type, naming the supported ones', () => {
    for (const type of ['Float64', 'Nullable(String)', 'Date', 'UUID', 'Int128', 'UInt256', 'Identifier', 'string', 'Array(Int64)', 'DateTime64(3)', 'DateTime(\'UTC\')', '']) {
      refused(`SELECT {x:${type}}`, { x: 1 }, new RegExp(`Type ${type.replace(/[()]/g, '\\$&')} is not supported \\(supported: String, Int8`));
    }
    expect(sqlParamTypes).toEqual(['String', 'Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'DateTime', 'Array(String)']);
  });

  it('refuses a value that does not fit its Type', () => {
    refused('SELECT {s:String}', { s: 42 }, /s \(String\): number 42 is not a string/);
    refused('SELECT {s:String}', { s: ['a'] }, /s \(String\): an array is not a string/);
    refused('SELECT {n:Int64}', { n: '42' }, /n \(Int64\): a string is not an integer/);
    refused('SELECT {n:Int64}', { n: 1.5 }, /n \(Int64\): number 1.5 is not an integer/);
    refused('SELECT {n:Int64}', { n: Number.NaN }, /not an integer/);
    refused('SELECT {n:Int64}', { n: 2 ** 60 }, /not an integer/);
    refused('SELECT {n:Int64}', { n: 2n ** 63n }, /n \(Int64\): 9223372036854775808 is outside/);
    refused('SELECT {n:UInt64}', { n: -1 }, /n \(UInt64\): -1 is outside 0\.\.9223372036854775807/);
    refused('SELECT {n:UInt8}', { n: 256 }, /outside 0\.\.255/);
    refused('SELECT {n:Int8}', { n: -129 }, /outside -128\.\.127/);
    refused('SELECT {n:UInt32}', { n: 2 ** 32 }, /outside 0\.\.4294967295/);
    refused('SELECT {t:DateTime}', { t: -1 }, /t \(DateTime\): -1 is outside 0\.\.4294967295/);
    refused('SELECT {t:DateTime}', { t: 2 ** 32 }, /outside 0\.\.4294967295/);
    refused('SELECT {t:DateTime}', { t: 1.5 }, /not an integer/);
    refused('SELECT {a:Array(String)}', { a: 'x' }, /expected an array of strings/);
    refused('SELECT {a:Array(String)}', { a: ['x', 1] as unknown as string[] }, /expected an array of strings/);
  });

  it('refuses a malformed placeholder and one name with two Types', () => {
    refused('SELECT {x}', {}, /malformed placeholder near "SELECT {x}"/);
    refused('SELECT { x:String}', { x: 'a' }, /malformed placeholder/);
    refused('SELECT {x:String}}', { x: 'a' }, /malformed placeholder/);
    refused('SELECT {1x:String}', {}, /malformed placeholder/);
    refused('SELECT {x:String}, {x:Int64}', { x: 'a' }, /x is declared as String and as Int64/);
  });
});

describe('boundParams: the values as the client sends them', () => {
  it('passes strings, integers and arrays through, and DateTime as ten digits (the server reads a short digit string as no timestamp)', () => {
    expect(boundParams({
      sql: 'SELECT {s:String}, {n:Int64}, {b:UInt64}, {t:DateTime}, {z:DateTime}, {a:Array(String)}',
      params: { s: "a'b{x:String}", n: -5, b: 7n, t: 1_700_000_000, z: 0, a: ['x'] },
    })).toEqual({ s: "a'b{x:String}", n: -5, b: 7n, t: '1700000000', z: '0000000000', a: ['x'] });
  });
});

describe('parameter mode: bound on current servers, rendered on 18.16', () => {
  it('from the version text', () => {
    expect(parameterModeOf('18.16.1')).toBe('rendered');
    expect(parameterModeOf('19.17.9.60')).toBe('rendered');
    expect(parameterModeOf('20.3.21.2')).toBe('rendered');
    expect(parameterModeOf('23.8.16.16')).toBe('rendered');
    expect(parameterModeOf('24.1.1')).toBe('bound');
    expect(parameterModeOf('24.3.1.2672')).toBe('bound');
    expect(parameterModeOf('26.7.2.1')).toBe('bound');
    expect(() => parameterModeOf('')).toThrow(/is not major.minor/);
    expect(() => parameterModeOf('latest')).toThrow(/is not major.minor/);
  });

  /** A stand-in server that answers `SELECT version()` with `version` and records every request. */
  function fakeServer(version: string | (() => never)) {
    const calls: { kind: 'query' | 'command'; query: string; query_params?: unknown; settings?: unknown }[] = [];
    const client = {
      query: (params: { query: string; query_params?: unknown; clickhouse_settings?: unknown }) => {
        calls.push({ kind: 'query', query: params.query, query_params: params.query_params, settings: params.clickhouse_settings });
        const rows = params.query.startsWith('SELECT version()') ? [{ version: typeof version === 'string' ? version : version() }] : [{ ok: 1 }];
        return Promise.resolve({ json: () => Promise.resolve(rows) });
      },
      command: (params: { query: string; query_params?: unknown }) => {
        calls.push({ kind: 'command', query: params.query, query_params: params.query_params });
        return Promise.resolve({});
      },
    } as unknown as SqlClient;
    return { client, calls };
  }

  const report: SqlQuery = { sql: 'SELECT * FROM events WHERE tenant_id = {tenantId:String} AND occurred_at >= {from:DateTime} LIMIT {limit:UInt64}', params: { tenantId: "ten_'x", from: 1_700_000_000, limit: 10 } };

  it("a server answering version 24.3 gets the template and the values as query_params, asked once per client", async () => {
    const { client, calls } = fakeServer('24.3.1.2672');
    expect(await queryRows(client, report, { clickhouse_settings: { readonly: '1' } })).toEqual([{ ok: 1 }]);
    await runCommand(client, { sql: 'ALTER TABLE events DROP PARTITION {p:UInt32}', params: { p: 201_910 } });
    expect(calls).toEqual([
      { kind: 'query', query: 'SELECT version() AS version', query_params: undefined, settings: undefined },
      { kind: 'query', query: report.sql, query_params: { tenantId: "ten_'x", from: '1700000000', limit: 10 }, settings: { readonly: '1' } },
      { kind: 'command', query: 'ALTER TABLE events DROP PARTITION {p:UInt32}', query_params: { p: 201_910 } },
    ]);
  });

  it('a server answering 18.16 gets the rendered statement and no query_params', async () => {
    const { client, calls } = fakeServer('18.16.1');
    await queryRows(client, report);
    await runCommand(client, { sql: 'ALTER TABLE events DROP PARTITION {p:UInt32}', params: { p: 201_910 } });
    expect(calls.slice(1)).toEqual([
      { kind: 'query', query: "SELECT * FROM events WHERE tenant_id = 'ten_\\'x' AND occurred_at >= toDateTime(1700000000) LIMIT 10", query_params: undefined, settings: undefined },
      { kind: 'command', query: 'ALTER TABLE events DROP PARTITION 201910', query_params: undefined },
    ]);
  });

  it('concurrent first statements ask once; a failed ask is not kept', async () => {
    let fail = true;
    const { client, calls } = fakeServer('25.8.1');
    const flaky = { ...client, query: (p: Parameters<SqlClient['query']>[0]) => {
      if (p.query.startsWith('SELECT version()') && fail) { fail = false; return Promise.reject(new Error('connect ECONNREFUSED')); }
      return client.query(p);
    } } as SqlClient;
    await expect(queryRows(flaky, report)).rejects.toThrow(/ECONNREFUSED/);
    await Promise.all([queryRows(flaky, report), queryRows(flaky, report), parameterMode(flaky)]);
    expect(calls.filter((c) => c.query.startsWith('SELECT version()'))).toHaveLength(1);
    expect(await parameterMode(flaky)).toBe('bound');
  });

  it("one caller's abort during the first ask fails that caller only: the others waiting on the same ask get the mode", async () => {
    const { client, calls } = fakeServer('24.3.1');
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => { answer = resolve; });
    // Like the real client, a request given an abort signal fails when it aborts.
    const slow = { ...client, query: async (p: Parameters<SqlClient['query']>[0]) => {
      if (p.query.startsWith('SELECT version()')) {
        await new Promise<void>((resolve, reject) => {
          void answered.then(resolve);
          p.abort_signal?.addEventListener('abort', () => reject(new Error('request aborted')), { once: true });
        });
      }
      return client.query(p);
    } } as SqlClient;
    const abort = new AbortController();
    const first = queryRows(slow, report, { abort_signal: abort.signal });
    const second = queryRows(slow, report);
    abort.abort(new Error('the caller gave up'));
    await expect(first).rejects.toThrow('the caller gave up');
    answer();
    expect(await second).toEqual([{ ok: 1 }]);
    expect(calls.filter((c) => c.query.startsWith('SELECT version()'))).toHaveLength(1);
    expect(await parameterMode(slow)).toBe('bound');
  });

  it('a template and params that disagree fail before the server is asked anything', async () => {
    const { client, calls } = fakeServer('24.3.1');
    await expect(queryRows(client, { sql: 'SELECT {a:String}', params: {} })).rejects.toThrow(SqlParamsError);
    expect(calls).toEqual([]);
  });
});
