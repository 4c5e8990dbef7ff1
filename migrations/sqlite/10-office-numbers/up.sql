-- Office mode: number blocks this desk leased from the Rathaus-Server in advance,
-- so that an Aktenzeichen for a paper application can be given without the server.
-- A number is taken by moving `next` on; an exhausted block is deleted. Numbers are
-- never handed out twice (gaps after a crash are possible).

CREATE TABLE office_numbers (
    counter  TEXT NOT NULL,
    next     INTEGER NOT NULL,
    last     INTEGER NOT NULL CHECK (last >= next),
    PRIMARY KEY (counter, next)
);
