import { describe, expect, it } from '@jest/globals';
import { nvsCsvFiles, nvsRecipeFromCsv, parseNvsCsv } from './csv.js';
import { NvsError } from './errors.js';

function problem(run: () => unknown): NvsError {
  try {
    run();
  } catch (err) {
    if (err instanceof NvsError) return err;
    throw err;
  }
  throw new Error('expected an NvsError');
}

describe('the NVS CSV', () => {
  it('turns rows into ordered namespaces with typed values', () => {
    const csv = [
      '# comment, ignored',
      'key,type,encoding,value',
      'app,namespace,,',
      'n,data,i32,-5',
      'name,data,string,"a, ""b"""',
      'h,data,hex2bin, 00ff ',
      'b64,data,base64,AAEC',
      'bin,data,binary,hé',
      'other,namespace',
      'f,file,binary,cert.der',
      'g,file,string,greeting.txt',
      'app,namespace,,',
      'later,data,u8,1',
    ].join('\r\n');
    const files: Record<string, Uint8Array> = {
      'cert.der': new Uint8Array([0x30, 0x82]),
      'greeting.txt': new TextEncoder().encode('hi'),
    };
    expect(nvsCsvFiles(parseNvsCsv(csv))).toEqual(['cert.der', 'greeting.txt']);
    expect(nvsRecipeFromCsv(csv, { readFile: (path) => files[path] })).toEqual([
      {
        name: 'app',
        entries: [
          { key: 'n', value: { type: 'i32', value: '-5' } },
          { key: 'name', value: { type: 'string', value: 'a, "b"' } },
          { key: 'h', value: { type: 'blob', value: new Uint8Array([0x00, 0xff]) } },
          { key: 'b64', value: { type: 'blob', value: new Uint8Array([0, 1, 2]) } },
          { key: 'bin', value: { type: 'blob', value: new TextEncoder().encode('hé') } },
          { key: 'later', value: { type: 'u8', value: '1' } },
        ],
      },
      {
        name: 'other',
        entries: [
          { key: 'f', value: { type: 'blob', value: new Uint8Array([0x30, 0x82]) } },
          { key: 'g', value: { type: 'string', value: 'hi' } },
        ],
      },
    ]);
  });

  it('accepts the columns in any order', () => {
    const recipe = nvsRecipeFromCsv('value,key,encoding,type\n,ns,,namespace\n5,k,u16,data\n');
    expect(recipe).toEqual([{ name: 'ns', entries: [{ key: 'k', value: { type: 'u16', value: '5' } }] }]);
  });

  it('names the line and the key of every mistake, never the value', () => {
    const cases: Array<[string, number, string]> = [
      ['', 1, 'empty'],
      ['key,type,encoding\n', 1, '"value"'],
      ['key,type,encoding,value,extra\n', 1, 'unexpected column "extra"'],
      ['key,type,encoding,value\nk,data,u8,1\n', 2, 'before the first namespace'],
      ['key,type,encoding,value\nns,namespace,,\nk,blob,u8,1\n', 3, 'type "blob"'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,float,1\n', 3, 'encoding "float"'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,u8\n', 3, '3 fields'],
      ['key,type,encoding,value\nns,namespace,,\nk,file,u8,x.bin\n', 3, 'file row'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,u8,300\n', 3, 'outside the u8 range'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,i32,12secret\n', 3, 'not a decimal integer'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,hex2bin,abcsecret\n', 3, 'odd number'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,hex2bin,zzsecre\n', 3, 'odd number'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,hex2bin,zzsecret\n', 3, 'not hexadecimal'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,base64,secret!!\n', 3, 'not padded standard base64'],
      ['key,type,encoding,value\nns,namespace,,\nk,file,binary,missing.bin\n', 3, 'could not be read'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,u8,1\nk,data,u8,2\n', 4, 'appears twice'],
      ['key,type,encoding,value\nns,namespace,,\nthis_key_is_too_long,data,u8,1\n', 3, 'longer than 15'],
      ['key,type,encoding,value\nns,namespace,,\nk,data,string,"secret\n', 3, 'never closed'],
    ];
    for (const [csv, line, words] of cases) {
      const err = problem(() => nvsRecipeFromCsv(csv));
      expect({ csv, problem: err.problem, line: err.location.line, message: err.message }).toEqual({
        csv,
        problem: 'INVALID_CSV',
        line,
        message: expect.stringContaining(words),
      });
      expect(err.message).not.toContain('secret');
    }
  });
});
