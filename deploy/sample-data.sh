#!/usr/bin/env bash
# Loads a small sample data set through the lotline CLI (HTTP API -> Kafka ->
# command consumer -> log -> views): three products, lots and serials,
# receipts from a vendor, internal transfers, a delivery to a customer.
# Usage: deploy/sample-data.sh [--api URL]
set -euo pipefail
cd "$(dirname "$0")/.."
cli=(build/bin/lotline "$@")

step() { printf '  %-62s' "$1"; shift; "${cli[@]}" "$@" >/dev/null && echo ok; }

echo "Loading sample data:"
step "lot PAINT-RED / LOT-2026-001 (expires 2027-06-30)" create --product PAINT-RED --lot-id paint-red-001 --name LOT-2026-001 --expiration-at 2027-06-30T00:00:00Z --reference PO-1001
step "lot PAINT-RED / LOT-2026-002" create --product PAINT-RED --lot-id paint-red-002 --name LOT-2026-002 --reference PO-1002
step "lot RESIN / R-7781" create --product RESIN --lot-id resin-7781 --name R-7781 --description "Epoxy resin, 25 kg drums"
for n in 0001 0002 0003; do
  step "serial DRILL-X / SN-$n" create --product DRILL-X --lot-id drill-sn-$n --name SN-$n --tracking serial
done
step "receive 120 of LOT-2026-001 from Vendors/Colorama" move --product PAINT-RED --lot-id paint-red-001 --qty 120 --from Vendors/Colorama:SUPPLIER --to WH/Stock --reference PO-1001
step "receive 40.5 of LOT-2026-002 from Vendors/Colorama" move --product PAINT-RED --lot-id paint-red-002 --qty 40.5 --from Vendors/Colorama:SUPPLIER --to WH/Stock --reference PO-1002
step "receive 300 kg of R-7781" move --product RESIN --lot-id resin-7781 --qty 300 --from Vendors/ChemCo:SUPPLIER --to WH/Stock --reference PO-1003
for n in 0001 0002 0003; do
  step "receive serial SN-$n" move --product DRILL-X --lot-id drill-sn-$n --qty 1 --from Vendors/ToolsInc:SUPPLIER --to WH/Stock --reference PO-1004
done
step "transfer 30 of LOT-2026-001 to WH/Stock/Shelf-2" move --product PAINT-RED --lot-id paint-red-001 --qty 30 --from WH/Stock --to WH/Stock/Shelf-2 --reference WH/INT/0001
step "transfer 12.25 of LOT-2026-001 to WH/Dispatch (transit)" move --product PAINT-RED --lot-id paint-red-001 --qty 12.25 --from WH/Stock --to WH/Dispatch:TRANSIT --reference WH/INT/0002
step "transfer SN-0002 to WH/Stock/Shelf-9" move --product DRILL-X --lot-id drill-sn-0002 --qty 1 --from WH/Stock --to WH/Stock/Shelf-9 --reference WH/INT/0003
step "deliver 10 of LOT-2026-001 from Shelf-2 to Customers/ACME" move --product PAINT-RED --lot-id paint-red-001 --qty 10 --from WH/Stock/Shelf-2 --to Customers/ACME:CUSTOMER --reference WH/OUT/0001
step "deliver SN-0001 to Customers/ACME" move --product DRILL-X --lot-id drill-sn-0001 --qty 1 --from WH/Stock --to Customers/ACME:CUSTOMER --reference WH/OUT/0002
echo "Trying a move the rules refuse (more than is on the shelf):"
if "${cli[@]}" move --product PAINT-RED --lot-id paint-red-001 --qty 500 --from WH/Stock/Shelf-2 --to Customers/ACME:CUSTOMER; then
  echo "  unexpectedly accepted" >&2; exit 1
fi
