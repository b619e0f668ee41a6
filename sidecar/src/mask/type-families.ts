/**
 * The built-in type OIDs masking knows how to rewrite (pg_type.h). RowDescription
 * reports a domain column with its base type's OID, so a domain over text is text here.
 */
export const TypeOid = {
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  json: 114,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  uuid: 2950,
  jsonb: 3802,
} as const;

/**
 * How a type's values are written on the wire, which decides what a masked value can be:
 * - text: character data; the binary format is the same bytes as the text format;
 * - json / jsonb: a JSON document (jsonb binary = version byte 1 + the text);
 * - int2 / int4 / int8: a signed integer (binary: big-endian two's complement);
 * - uuid: 16 bytes (text: 8-4-4-4-12 lowercase hex);
 * - other: everything else (numeric, floats, dates, bytea, arrays, enums, extension types…):
 *   no masked form is known to be a valid value, so every strategy yields NULL.
 */
export type TypeFamily = 'text' | 'json' | 'jsonb' | 'int2' | 'int4' | 'int8' | 'uuid' | 'other';

export function typeFamily(typeOid: number): TypeFamily {
  switch (typeOid) {
    case TypeOid.text:
    case TypeOid.varchar:
    case TypeOid.bpchar:
    case TypeOid.name:
    case TypeOid.unknown:
      return 'text';
    case TypeOid.json:
      return 'json';
    case TypeOid.jsonb:
      return 'jsonb';
    case TypeOid.int2:
      return 'int2';
    case TypeOid.int4:
      return 'int4';
    case TypeOid.int8:
      return 'int8';
    case TypeOid.uuid:
      return 'uuid';
    default:
      return 'other';
  }
}
