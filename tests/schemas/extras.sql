-- What the Pagila schema lacks, for perfkit's capture and inference tests: a self-referencing
-- foreign key, a deferrable foreign-key cycle (employee <-> team), an M:N table, a column
-- collation "C", a trigram GIN index (gin_trgm_ops), a partial unique expression index, an
-- expression index, an exclusion constraint, CHECKs between two columns and with IN lists and
-- lengths, a domain whose CHECK perfkit cannot read (a regular expression), an ENUM array, a
-- list-partitioned table with a default partition and a foreign key, a trigger, row-level
-- security with a policy, extended statistics and comments. Runs after pagila-schema.sql.

SET search_path = public;

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TYPE skill AS ENUM ('sql', 'python', 'ops', 'design');
CREATE DOMAIN zip_code AS text CHECK (VALUE ~ '^[0-9]{3}-[0-9]{4}$');
CREATE DOMAIN percent AS numeric(5, 2) NOT NULL DEFAULT 0 CHECK (VALUE >= 0 AND VALUE <= 100);

CREATE TABLE org_unit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id bigint REFERENCES org_unit (id),
    code varchar(12) COLLATE "C" NOT NULL UNIQUE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('head', 'branch', 'desk')),
    level smallint NOT NULL DEFAULT 1 CHECK (level BETWEEN 1 AND 5),
    zip zip_code,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE org_unit IS 'Units of the organisation; each may belong to another';
COMMENT ON COLUMN org_unit.code IS 'Short code, compared byte by byte';

CREATE TABLE employee (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    unit_id bigint NOT NULL REFERENCES org_unit (id),
    mentor_id uuid REFERENCES employee (id) DEFERRABLE INITIALLY DEFERRED,
    email text NOT NULL,
    full_name varchar(80) NOT NULL,
    phone text,
    salary numeric(10, 2) CHECK (salary > 0),
    bonus percent,
    hired_on date NOT NULL,
    left_on date,
    skills skill[] NOT NULL DEFAULT '{}',
    tags text[],
    profile jsonb,
    last_ip inet,
    photo bytea,
    deleted_at timestamptz,
    CONSTRAINT employee_dates CHECK (left_on IS NULL OR left_on > hired_on),
    CONSTRAINT employee_name_length CHECK (char_length(full_name) >= 2)
);
CREATE UNIQUE INDEX employee_email_live ON employee (lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX employee_name_trgm ON employee USING gin (full_name gin_trgm_ops);
CREATE INDEX employee_hired_year ON employee ((extract(year FROM hired_on)));

CREATE TABLE team (
    id serial PRIMARY KEY,
    unit_id bigint NOT NULL REFERENCES org_unit (id),
    lead_id uuid,
    name text NOT NULL,
    budget integer NOT NULL CHECK (budget >= 1000 AND budget <= 50000)
);
ALTER TABLE employee ADD COLUMN team_id integer;
ALTER TABLE employee ADD CONSTRAINT employee_team_fk FOREIGN KEY (team_id) REFERENCES team (id)
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE team ADD CONSTRAINT team_lead_fk FOREIGN KEY (lead_id) REFERENCES employee (id)
    DEFERRABLE INITIALLY IMMEDIATE;

CREATE TABLE team_member (
    team_id integer NOT NULL REFERENCES team (id) ON DELETE CASCADE,
    employee_id uuid NOT NULL REFERENCES employee (id),
    role text NOT NULL DEFAULT 'member',
    PRIMARY KEY (team_id, employee_id)
);

CREATE TABLE room_booking (
    id bigserial PRIMARY KEY,
    room_no integer NOT NULL CHECK (room_no BETWEEN 100 AND 999),
    booked_by uuid NOT NULL REFERENCES employee (id),
    during tstzrange NOT NULL,
    status text NOT NULL DEFAULT 'held',
    CONSTRAINT room_booking_no_overlap EXCLUDE USING gist (room_no WITH =, during WITH &&)
);

CREATE FUNCTION room_booking_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.status := coalesce(NEW.status, 'held');
    RETURN NEW;
END $$;
CREATE TRIGGER room_booking_touch BEFORE INSERT OR UPDATE ON room_booking
    FOR EACH ROW EXECUTE FUNCTION room_booking_touch();

CREATE TABLE audit_event (
    id bigint NOT NULL,
    kind text NOT NULL,
    at timestamptz NOT NULL,
    employee_id uuid REFERENCES employee (id),
    PRIMARY KEY (id, kind)
) PARTITION BY LIST (kind);
CREATE TABLE audit_event_login PARTITION OF audit_event FOR VALUES IN ('login', 'logout');
CREATE TABLE audit_event_other PARTITION OF audit_event DEFAULT;
CREATE INDEX audit_event_at ON audit_event (at);

ALTER TABLE employee ENABLE ROW LEVEL SECURITY;
CREATE POLICY employee_live ON employee FOR SELECT TO PUBLIC USING (deleted_at IS NULL);

CREATE STATISTICS employee_unit_team (dependencies) ON unit_id, team_id FROM employee;
