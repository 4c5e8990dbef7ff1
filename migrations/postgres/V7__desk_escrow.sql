-- A desk's deposit: the identity that opens the desk's own master key file
-- (`keys/rathaus-server.age` on that PC). The server hands it out only to a user
-- it has just logged in at that very workstation, so that a user new at the
-- server gets a local account there. The identity alone opens nothing: the file
-- it opens lies only on the desk's disk.

ALTER TABLE workstations ADD COLUMN escrow TEXT;
