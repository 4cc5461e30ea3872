import { Code, ConnectError } from '@connectrpc/connect';
import { HttpsError } from 'firebase-functions/v2/https';
import { describe, expect, it } from 'vitest';
import { TallyError, type ErrorReason } from '../../domain/errors.js';
import { codeByReason, errorInfoDetail } from '../../platform/errors/connect-errors.js';
import { callableCodeByConnectCode, toHttpsError } from './callable-errors.js';

const ignore = () => undefined;

describe('callable error mapping', () => {
  it('maps every Connect code to the callable code of the same canonical name', () => {
    const codes = Object.values(Code).filter((c): c is Code => typeof c === 'number');
    expect(codes).toHaveLength(16);
    for (const code of codes) {
      const callable = callableCodeByConnectCode[code];
      // HttpsError knows the canonical name of each callable code (INVALID_ARGUMENT, ...).
      expect(new HttpsError(callable, 'x').toJSON().status, `Code.${Code[code]}`).toBe(Code[code]!.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase().replace('CANCELED', 'CANCELLED'));
    }
  });

  it.each(Object.keys(codeByReason) as ErrorReason[])('turns reason %s into its code with {reason, domain, metadata} details', (reason) => {
    const error = toHttpsError(new TallyError(reason, 'the message', { field: 'amount_minor' }), ignore);
    expect(error.code).toBe(callableCodeByConnectCode[codeByReason[reason]]);
    expect(error.details).toEqual({ reason, domain: 'tally', metadata: { field: 'amount_minor' } });
    expect(error.message).toBe(error.code === 'internal' ? 'internal error' : 'the message');
  });

  it('keeps the ErrorInfo of a ConnectError that carries one (as the RPC answered)', () => {
    const answered = new ConnectError('declined', Code.FailedPrecondition, undefined, [errorInfoDetail('CARD_DECLINED', { declineCode: 'do_not_honor' })]);
    const typed = toHttpsError(answered, ignore);
    expect(typed.code).toBe('failed-precondition');
    expect(typed.message).toBe('declined');
    expect(typed.details).toEqual({ reason: 'CARD_DECLINED', domain: 'tally', metadata: { declineCode: 'do_not_honor' } });
  });

  it('types a ConnectError without ErrorInfo (a decode refusal) by the RPC contract: invalid-argument, never internal', () => {
    const foreign = toHttpsError(new ConnectError('cannot decode message tally.X from JSON: key "nope" is unknown', Code.InvalidArgument), ignore);
    expect(foreign.code).toBe('invalid-argument');
    expect(foreign.details).toMatchObject({ reason: 'FIELD_INVALID', metadata: { field: 'nope' } });
  });

  it('answers anything unexpected as internal, without its message, and hands the cause to the log', () => {
    const seen: unknown[] = [];
    const cause = new Error('secret detail: db password');
    const error = toHttpsError(cause, (c) => seen.push(c));
    expect(error.code).toBe('internal');
    expect(error.message).toBe('internal error');
    expect(error.details).toEqual({ reason: 'INTERNAL', domain: 'tally', metadata: {} });
    expect(seen).toEqual([cause]);
  });
});
