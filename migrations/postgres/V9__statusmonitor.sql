-- The application's id in the BundID Statusmonitor and its service, as the portal
-- named them in the metadata: kept from the pickup, sealed to the server's delivery
-- key, so that the server can send the status updates as the desks' steps move the
-- case (the metadata itself is sealed to the case key, which the server cannot open).
CREATE TABLE statusmonitor (
    case_id UUID PRIMARY KEY REFERENCES cases (id),
    sealed BYTEA NOT NULL
);
