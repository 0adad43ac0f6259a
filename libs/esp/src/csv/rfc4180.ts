/**
 * CSV records as RFC 4180 defines them: comma-separated fields, records ended
 * by CRLF (LF or CR alone accepted too), fields optionally in double quotes,
 * a quote inside a quoted field doubled. Errors give the line and column,
 * never the text around them: the files this reads carry secrets.
 */

/** Why a CSV text could not be split into records. */
export class CsvSyntaxError extends Error {
  /** Stable code for callers that map errors. */
  readonly code = 'CSV_SYNTAX';

  constructor(
    message: string,
    /** 1-based line of the problem. */
    readonly line: number,
    /** 1-based column (in characters). */
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${message}`);
    this.name = 'CsvSyntaxError';
  }
}

/** One record and the line it starts on. */
export interface CsvRecord {
  /** 1-based line where the record starts (quoted fields may span lines). */
  line: number;
  fields: string[];
}

/** Options of parseCsv(). */
export interface CsvParseOptions {
  /**
   * Records starting with this character are comments and skipped up to the
   * end of their line (ESP-IDF's NVS CSV uses "#").
   */
  commentPrefix?: string;
  /** Drop records that are one empty field (blank lines). Default true. */
  skipBlankLines?: boolean;
}

/** Splits CSV text into records. A leading UTF-8 byte-order mark is ignored. */
export function parseCsv(text: string, options: CsvParseOptions = {}): CsvRecord[] {
  const skipBlank = options.skipBlankLines ?? true;
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let lineStart = i;
  const column = () => i - lineStart + 1;
  const endOfLine = (): boolean => {
    // Consumes one line break (CRLF, LF or CR) if there is one at i.
    if (text[i] === '\r') {
      i += text[i + 1] === '\n' ? 2 : 1;
    } else if (text[i] === '\n') {
      i += 1;
    } else {
      return false;
    }
    line++;
    lineStart = i;
    return true;
  };

  while (i < text.length) {
    const recordLine = line;
    if (options.commentPrefix && text.startsWith(options.commentPrefix, i)) {
      while (i < text.length && text[i] !== '\n' && text[i] !== '\r') i++;
      endOfLine();
      continue;
    }
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        const openLine = line;
        const openColumn = column();
        i++;
        for (;;) {
          if (i >= text.length) {
            throw new CsvSyntaxError('a quoted field is never closed', openLine, openColumn);
          }
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\r' || c === '\n') {
            const before = i;
            endOfLine();
            field += text.slice(before, i);
            continue;
          }
          field += c;
          i++;
        }
        if (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
          throw new CsvSyntaxError(
            'text follows a closing quote (quote the whole field and double the quotes inside it)',
            line,
            column(),
          );
        }
      } else {
        const start = i;
        while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
          if (text[i] === '"') {
            throw new CsvSyntaxError(
              'a double quote inside an unquoted field (quote the field and double the quote)',
              line,
              column(),
            );
          }
          i++;
        }
        field = text.slice(start, i);
      }
      fields.push(field);
      if (text[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    endOfLine();
    if (skipBlank && fields.length === 1 && fields[0] === '') continue;
    records.push({ line: recordLine, fields });
  }
  return records;
}
