/** Customers to the wire (PaymentsService). */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { CustomerSchema, type Customer as CustomerProto } from '../../gen/tally/payments/v1/payments_pb.js';
import type { Customer } from '../../ports/payments-store.js';

export function customerToProto(customer: Customer): CustomerProto {
  return create(CustomerSchema, { id: customer.id, email: customer.email, name: customer.name, createTime: timestampFromMs(customer.createdAtMs) });
}
