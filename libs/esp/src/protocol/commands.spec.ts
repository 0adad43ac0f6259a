import { describe, expect, it } from '@jest/globals';
import {
  checksum,
  dataCommandBody,
  encodeRequest,
  isUnsupportedReply,
  Op,
  opName,
  parseReply,
  parseStatus,
  SYNC_BODY,
  writeRegBody,
} from './commands.js';
import { slipEncode } from './slip.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('request encoding', () => {
  it('checksum folds the payload with seed 0xEF (reference example)', () => {
    expect(checksum(Uint8Array.from([0x01, 0x02]))).toBe(0xec);
  });

  it('checksum equals a byte-by-byte XOR at every length and alignment (it folds 32-bit words)', () => {
    const backing = new Uint8Array(300).map((_, i) => (i * 151 + 7) & 0xff);
    for (const offset of [0, 1, 2, 3, 5])
      for (const length of [0, 1, 3, 4, 7, 8, 64, 255, 290]) {
        const view = backing.subarray(offset, offset + length);
        let expected = 0xef;
        for (const b of view) expected ^= b;
        expect([offset, length, checksum(view)]).toEqual([offset, length, expected]);
        expect(checksum(view, 0)).toBe(expected ^ 0xef);
      }
  });

  it('SYNC is the 46-byte frame of §3.1', () => {
    const wire = slipEncode(encodeRequest(Op.SYNC, SYNC_BODY));
    expect(wire.length).toBe(46);
    expect(hex(wire.subarray(0, 13))).toBe('c000082400000000000707122' + '0');
    expect(wire[45]).toBe(0xc0);
  });

  it('data commands carry len, seq, 0, 0 and the checksum of the payload only', () => {
    const { body, checksum: c } = dataCommandBody(Uint8Array.from([1, 2]), 7);
    expect(hex(encodeRequest(Op.FLASH_DATA, body, c))).toBe(
      '000312' + '00' + 'ec000000' + '02000000' + '07000000' + '0000000000000000' + '0102',
    );
  });

  it('WRITE_REG has one 16-byte tuple per write', () => {
    expect(hex(writeRegBody([{ addr: 0x60000078, value: 1 }]))).toBe(
      '78000060' + '01000000' + 'ffffffff' + '00000000',
    );
  });

  it('names opcodes for messages', () => {
    expect(opName(Op.FLASH_DEFL_DATA)).toBe('FLASH_DEFL_DATA');
    expect(opName(0x77)).toBe('0x77');
  });
});

describe('reply parsing', () => {
  it('parses ROM SYNC replies (4-byte status) and stub ones (2-byte status)', () => {
    const rom = parseReply(Buffer.from('010804000707122000000000', 'hex'));
    expect(rom).toMatchObject({ op: 0x08, value: 0x20120707 });
    const stub = parseReply(Buffer.from('01080200000000000000', 'hex'));
    expect(stub).toMatchObject({ op: 0x08, value: 0 });
  });

  it('rejects frames that are not replies', () => {
    expect(parseReply(Buffer.from('000804000707122000000000', 'hex'))).toBeUndefined();
    expect(parseReply(Buffer.from('0108', 'hex'))).toBeUndefined();
    expect(parseReply(Buffer.from('0108050007071220000000', 'hex'))).toBeUndefined(); // size disagrees
  });

  it('takes the status after the expected payload: ROM MD5 (32 + 4) and stub MD5 (16 + 2)', () => {
    const romData = Uint8Array.from([...Buffer.from('d41d8cd98f00b204e9800998ecf8427e'), 0, 0, 0, 0]);
    const rom = parseStatus(romData, 32)!;
    expect(rom.first).toBe(0);
    expect(Buffer.from(rom.payload).toString()).toBe('d41d8cd98f00b204e9800998ecf8427e');
    const stubData = Uint8Array.from([...new Array<number>(16).fill(0xaa), 0, 0]);
    expect(parseStatus(stubData, 16)).toMatchObject({ first: 0, second: 0 });
  });

  it('a failing command with no payload has its status first', () => {
    expect(parseStatus(Uint8Array.from([0x01, 0x05, 0, 0]), 32)).toMatchObject({ first: 1, second: 5 });
    expect(parseStatus(Uint8Array.from([0xc1, 0x00]), 0)).toMatchObject({ first: 0xc1, second: 0 });
  });

  it('recognises the unsupported-command shape of §1.8 (other opcode, 01 05)', () => {
    const reply = parseReply(Buffer.from('0100040000000000' + '01050000', 'hex'))!;
    expect(isUnsupportedReply(reply, Op.GET_SECURITY_INFO)).toBe(true);
    expect(isUnsupportedReply({ ...reply, op: Op.GET_SECURITY_INFO }, Op.GET_SECURITY_INFO)).toBe(false);
  });
});
