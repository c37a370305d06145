"""Partner commerce pulled from the partner's own HTTP API, in the Codat
Commerce shape (`PartnerCommerceSource`). Records a partner pushes to us
instead are the core's: `commerce_sync.inbound`."""
