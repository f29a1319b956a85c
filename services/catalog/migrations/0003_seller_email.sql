-- R32: the address sellers' stock alerts go to. Catalog owns sellers; notifications keeps a copy of it
-- from SellerRegistered. Null: not given (the seller is then alerted in the app only).
ALTER TABLE sellers ADD COLUMN email text;
