import { PkiError } from './errors';

/**
 * A minimal DER writer and reader for the structures CRLs and OCSP are made of. They are encoded by hand (not
 * through an ASN.1 object model) because a CRL of 100,000 entries and an OCSP answer per request are on hot
 * paths where building an object tree per entry costs more than the signature.
 */

export const TAG = {
  boolean: 0x01, integer: 0x02, bitString: 0x03, octetString: 0x04, null: 0x05, oid: 0x06, enumerated: 0x0a,
  utcTime: 0x17, generalizedTime: 0x18, sequence: 0x30, set: 0x31,
} as const;

function lengthOf(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = content.length === 1 ? content[0]! : Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthOf(body.length), body]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(TAG.sequence, ...items);
/** [n] EXPLICIT: a constructed context tag around the encoded value. */
export const explicit = (n: number, value: Buffer): Buffer => tlv(0xa0 | n, value);
export const octetString = (bytes: Buffer): Buffer => tlv(TAG.octetString, bytes);
export const bitString = (bytes: Buffer): Buffer => tlv(TAG.bitString, Buffer.from([0]), bytes);
export const enumerated = (value: number): Buffer => tlv(TAG.enumerated, Buffer.from([value]));
export const NULL = Buffer.from([0x05, 0x00]);

/** A non-negative INTEGER from big-endian bytes (a leading 00 added when the top bit is set). */
export function unsignedInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(TAG.integer, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export function integerOf(value: number | bigint): Buffer {
  let hex = BigInt(value).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return unsignedInteger(Buffer.from(hex, 'hex'));
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [parts[0]! * 40 + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(TAG.oid, Buffer.from(bytes));
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

export function generalizedTime(date: Date): Buffer {
  const d = date;
  const text = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(TAG.generalizedTime, Buffer.from(text, 'ascii'));
}

/** RFC 5280 Time: UTCTime through 2049, GeneralizedTime after. */
export function x509Time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (year >= 2050) return generalizedTime(date);
  const text = `${pad(year % 100)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  return tlv(TAG.utcTime, Buffer.from(text, 'ascii'));
}

/** One decoded element: its tag, where its content lies, and where it ends in the buffer it was read from. */
export interface DerElement {
  tag: number;
  /** The whole element (tag, length and content). */
  raw: Buffer;
  content: Buffer;
}

/** Reads the element at `offset`; throws PkiError('MALFORMED') on anything truncated or not DER-shaped. */
export function readElement(buf: Buffer, offset = 0): DerElement {
  if (offset + 2 > buf.length) throw new PkiError('MALFORMED', 'truncated DER');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new PkiError('MALFORMED', 'multi-byte DER tags are not used here');
  let length = buf[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || offset + 2 + count > buf.length) throw new PkiError('MALFORMED', 'bad DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
    header += count;
  }
  const end = offset + header + length;
  if (end > buf.length) throw new PkiError('MALFORMED', 'truncated DER');
  return { tag, raw: buf.subarray(offset, end), content: buf.subarray(offset + header, end) };
}

/** The elements inside a constructed element's content, in order. */
export function children(content: Buffer): DerElement[] {
  const out: DerElement[] = [];
  for (let offset = 0; offset < content.length; ) {
    const el = readElement(content, offset);
    out.push(el);
    offset += el.raw.length;
  }
  return out;
}

/** Reads exactly one element spanning the whole buffer. */
export function readOnly(buf: Buffer): DerElement {
  const el = readElement(buf, 0);
  if (el.raw.length !== buf.length) throw new PkiError('MALFORMED', 'trailing bytes after DER');
  return el;
}

export function decodeOid(content: Buffer): string {
  if (!content.length) throw new PkiError('MALFORMED', 'empty OID');
  const parts = [Math.floor(content[0]! / 40), content[0]! % 40];
  let value = 0;
  for (const byte of content.subarray(1)) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}
