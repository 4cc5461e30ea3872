/**
 * The ledger names reconciliation derives (ADR 0017's reserved namespaces; ADR 0033): its accounts
 * `acc_rcn_<account>_<psp>_<currency>`, its entries `je_rcn_<report hash>_...` and the codes of
 * its own accounts. The public ledger RPCs refuse them, so no caller can pre-create a recon entry
 * id, post into or close a recon account, or take a recon account's code before a run does.
 */
import type { ReservedLedgerNamespace } from '../ledger/namespace.js';

/** Prefix of every account id reconciliation creates (see reconAccountIdOf). */
export const RECON_ACCOUNT_ID_PREFIX = 'acc_rcn_';
/** Entry id family: `je_rcn_...`. */
export const RECON_ENTRY_FAMILY = 'rcn';

export const reconLedgerNamespace: ReservedLedgerNamespace = Object.freeze({
  owner: 'reconciliation',
  accountIdPrefixes: Object.freeze([RECON_ACCOUNT_ID_PREFIX]),
  // `bank:<psp>:<currency>` is left free: `bank` is a code family tenants use for their own accounts.
  accountCodeFamilies: Object.freeze(['psp_fees', 'fx_clearing', 'recon_adjustments']),
  entryIdFamilies: Object.freeze([RECON_ENTRY_FAMILY]),
});
