/**
 * Reserved ledger names: account ids, account codes and entry ids that a system path (payments
 * today; billing tomorrow) derives from its own ids and must always be able to write. If a caller
 * of the public ledger RPCs could take one first (pre-create `je_cap_<paymentId>`, close the fee
 * revenue account, create an account with the merchant payable's code), the system path would fail
 * after the PSP had already acted, with nothing left to recover it. So the public RPCs refuse every
 * name in a reserved namespace with `RESERVED_NAMESPACE`; the system paths, which plan entries and
 * create accounts through the use cases' internal functions, are not checked.
 *
 * The namespace is data declared by the path that owns it (see `domain/payments/ledger-postings.ts`),
 * derived from the same constants that path builds its names from, so the two cannot drift.
 */
import { TallyError } from '../errors.js';

/** The names one system path derives, as families (a family covers every name it derives). */
export interface ReservedLedgerNamespace {
  /** Who owns the namespace (shown in the error), e.g. `payments`. */
  readonly owner: string;
  /** Account ids starting with any of these are the owner's (e.g. `acc_pay_`). */
  readonly accountIdPrefixes: readonly string[];
  /** Account codes equal to one of these, or starting with one followed by `:`, are the owner's. */
  readonly accountCodeFamilies: readonly string[];
  /**
   * Entry ids `je_<family>_...` or `je_<family><digits>_...` are the owner's (`cap` covers
   * `je_cap_x`, `je_cap2_x`; `capr` covers `je_capr_x`).
   */
  readonly entryIdFamilies: readonly string[];
}

/** True when `accountId` is in `namespace`. */
export function isReservedAccountId(namespace: ReservedLedgerNamespace, accountId: string): boolean {
  return namespace.accountIdPrefixes.some((prefix) => accountId.startsWith(prefix));
}

/** True when `code` is in `namespace`. */
export function isReservedAccountCode(namespace: ReservedLedgerNamespace, code: string): boolean {
  const family = code.split(':', 1)[0] ?? '';
  return namespace.accountCodeFamilies.includes(family);
}

/** True when `entryId` is in `namespace`. */
export function isReservedEntryId(namespace: ReservedLedgerNamespace, entryId: string): boolean {
  const match = /^je_([A-Za-z]+)\d*_/.exec(entryId);
  return match !== null && namespace.entryIdFamilies.includes(match[1]!);
}

/** Throws `RESERVED_NAMESPACE` (naming `field`) when `accountId` is reserved by any namespace. */
export function checkAccountIdNotReserved(namespaces: readonly ReservedLedgerNamespace[], accountId: string, field: string): void {
  const owner = namespaces.find((ns) => isReservedAccountId(ns, accountId));
  if (owner) throw reserved(field, `account ${accountId} is a system account of ${owner.owner}; it cannot be changed through the ledger API`, owner);
}

/** Throws `RESERVED_NAMESPACE` (field `code`) when `code` is reserved by any namespace. */
export function checkAccountCodeNotReserved(namespaces: readonly ReservedLedgerNamespace[], code: string): void {
  const owner = namespaces.find((ns) => isReservedAccountCode(ns, code));
  if (owner) throw reserved('code', `account code ${code} is reserved for the system accounts of ${owner.owner}`, owner);
}

/** Throws `RESERVED_NAMESPACE` (naming `field`) when `entryId` is reserved by any namespace. */
export function checkEntryIdNotReserved(namespaces: readonly ReservedLedgerNamespace[], entryId: string, field: string): void {
  const owner = namespaces.find((ns) => isReservedEntryId(ns, entryId));
  if (owner) throw reserved(field, `entry id ${entryId} is reserved for the entries ${owner.owner} writes`, owner);
}

function reserved(field: string, message: string, namespace: ReservedLedgerNamespace): TallyError {
  return new TallyError('RESERVED_NAMESPACE', `${field}: ${message}`, { field, namespace: namespace.owner });
}
