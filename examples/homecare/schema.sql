-- The home-care example's schema as SQL, for scales.yaml's `app.schema: {sql: schema.sql}`.
-- Made by `pg_dump --schema-only --no-owner --no-privileges` of a database built from
-- homecare/models.py. tests/integration/test_schema_sources.py checks that it builds the
-- catalogue the models and the migrations build. pg_dump's \restrict lines are psql
-- meta-commands, which perfkit skips.
--
-- PostgreSQL database dump
--

\restrict bbKjoQGjLzKu5Gd66gpi9oCn5ksbbo8GpCE87J9qsd5px7WgKvLMh0YUMLZ2BaZ

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: caregiver_role; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.caregiver_role AS ENUM (
    'owner',
    'coordinator',
    'aide'
);


--
-- Name: document_kind; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.document_kind AS ENUM (
    'assessment',
    'care_plan',
    'monitoring_report'
);


--
-- Name: review_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.review_status AS ENUM (
    'open',
    'closed'
);


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: agencies; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.agencies (
    id uuid NOT NULL,
    name character varying(200) NOT NULL,
    phone character varying(20) NOT NULL,
    created_by uuid NOT NULL,
    is_active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: agency_caregivers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.agency_caregivers (
    agency_id uuid NOT NULL,
    caregiver_id uuid NOT NULL,
    is_primary boolean NOT NULL,
    joined_on date NOT NULL
);


--
-- Name: care_plans; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.care_plans (
    id uuid NOT NULL,
    agency_id uuid NOT NULL,
    client_id uuid NOT NULL,
    caregiver_id uuid NOT NULL,
    is_archived boolean NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: caregivers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.caregivers (
    id uuid NOT NULL,
    home_agency_id uuid NOT NULL,
    full_name character varying(200) NOT NULL,
    email character varying(255) NOT NULL,
    role public.caregiver_role NOT NULL,
    is_active boolean NOT NULL,
    reminders_enabled boolean NOT NULL,
    reminder_lead_days integer NOT NULL,
    last_reminded_on date,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT ck_caregivers_lead_days_range CHECK (((reminder_lead_days >= 1) AND (reminder_lead_days <= 180)))
);


--
-- Name: clients; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.clients (
    id uuid NOT NULL,
    agency_id uuid NOT NULL,
    full_name character varying(200) NOT NULL,
    date_of_birth date NOT NULL,
    is_active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: documents; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.documents (
    id uuid NOT NULL,
    review_cycle_id integer NOT NULL,
    kind public.document_kind NOT NULL,
    title character varying(200) NOT NULL,
    signed boolean NOT NULL,
    uploaded_on date NOT NULL,
    signed_on date,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT ck_documents_signed_has_date CHECK ((signed = (signed_on IS NOT NULL)))
);


--
-- Name: review_cycles; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.review_cycles (
    id integer NOT NULL,
    care_plan_id uuid NOT NULL,
    cycle_number integer NOT NULL,
    starts_on date NOT NULL,
    due_on date NOT NULL,
    status public.review_status NOT NULL,
    is_latest boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT ck_review_cycles_dates_ordered CHECK ((due_on >= starts_on))
);


--
-- Name: review_cycles_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.review_cycles_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: review_cycles_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.review_cycles_id_seq OWNED BY public.review_cycles.id;


--
-- Name: review_cycles id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.review_cycles ALTER COLUMN id SET DEFAULT nextval('public.review_cycles_id_seq'::regclass);


--
-- Name: agencies pk_agencies; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agencies
    ADD CONSTRAINT pk_agencies PRIMARY KEY (id);


--
-- Name: agency_caregivers pk_agency_caregivers; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agency_caregivers
    ADD CONSTRAINT pk_agency_caregivers PRIMARY KEY (agency_id, caregiver_id);


--
-- Name: care_plans pk_care_plans; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.care_plans
    ADD CONSTRAINT pk_care_plans PRIMARY KEY (id);


--
-- Name: caregivers pk_caregivers; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.caregivers
    ADD CONSTRAINT pk_caregivers PRIMARY KEY (id);


--
-- Name: clients pk_clients; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT pk_clients PRIMARY KEY (id);


--
-- Name: documents pk_documents; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.documents
    ADD CONSTRAINT pk_documents PRIMARY KEY (id);


--
-- Name: review_cycles pk_review_cycles; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.review_cycles
    ADD CONSTRAINT pk_review_cycles PRIMARY KEY (id);


--
-- Name: care_plans uq_care_plans_client_id; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.care_plans
    ADD CONSTRAINT uq_care_plans_client_id UNIQUE (client_id);


--
-- Name: caregivers uq_caregivers_email; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.caregivers
    ADD CONSTRAINT uq_caregivers_email UNIQUE (email);


--
-- Name: documents uq_documents_review_cycle_id_kind; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.documents
    ADD CONSTRAINT uq_documents_review_cycle_id_kind UNIQUE (review_cycle_id, kind);


--
-- Name: review_cycles uq_review_cycles_care_plan_id_cycle_number; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.review_cycles
    ADD CONSTRAINT uq_review_cycles_care_plan_id_cycle_number UNIQUE (care_plan_id, cycle_number);


--
-- Name: ix_agencies_created_by; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_agencies_created_by ON public.agencies USING btree (created_by);


--
-- Name: ix_agency_caregivers_caregiver_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_agency_caregivers_caregiver_id ON public.agency_caregivers USING btree (caregiver_id);


--
-- Name: ix_care_plans_agency_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_care_plans_agency_id ON public.care_plans USING btree (agency_id);


--
-- Name: ix_care_plans_caregiver_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_care_plans_caregiver_id ON public.care_plans USING btree (caregiver_id);


--
-- Name: ix_caregivers_home_agency_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_caregivers_home_agency_id ON public.caregivers USING btree (home_agency_id);


--
-- Name: ix_clients_agency_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_clients_agency_id ON public.clients USING btree (agency_id);


--
-- Name: ix_review_cycles_care_plan_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_review_cycles_care_plan_id ON public.review_cycles USING btree (care_plan_id);


--
-- Name: ix_review_cycles_open_due_on; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_review_cycles_open_due_on ON public.review_cycles USING btree (due_on) WHERE (is_latest AND (status = 'open'::public.review_status));


--
-- Name: agencies fk_agencies_created_by_caregivers; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agencies
    ADD CONSTRAINT fk_agencies_created_by_caregivers FOREIGN KEY (created_by) REFERENCES public.caregivers(id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED;


--
-- Name: agency_caregivers fk_agency_caregivers_agency_id_agencies; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agency_caregivers
    ADD CONSTRAINT fk_agency_caregivers_agency_id_agencies FOREIGN KEY (agency_id) REFERENCES public.agencies(id) ON DELETE CASCADE;


--
-- Name: agency_caregivers fk_agency_caregivers_caregiver_id_caregivers; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agency_caregivers
    ADD CONSTRAINT fk_agency_caregivers_caregiver_id_caregivers FOREIGN KEY (caregiver_id) REFERENCES public.caregivers(id) ON DELETE CASCADE;


--
-- Name: care_plans fk_care_plans_agency_id_agencies; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.care_plans
    ADD CONSTRAINT fk_care_plans_agency_id_agencies FOREIGN KEY (agency_id) REFERENCES public.agencies(id) ON DELETE CASCADE;


--
-- Name: care_plans fk_care_plans_caregiver_id_caregivers; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.care_plans
    ADD CONSTRAINT fk_care_plans_caregiver_id_caregivers FOREIGN KEY (caregiver_id) REFERENCES public.caregivers(id) ON DELETE RESTRICT;


--
-- Name: care_plans fk_care_plans_client_id_clients; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.care_plans
    ADD CONSTRAINT fk_care_plans_client_id_clients FOREIGN KEY (client_id) REFERENCES public.clients(id) ON DELETE CASCADE;


--
-- Name: caregivers fk_caregivers_home_agency_id_agencies; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.caregivers
    ADD CONSTRAINT fk_caregivers_home_agency_id_agencies FOREIGN KEY (home_agency_id) REFERENCES public.agencies(id) ON DELETE RESTRICT;


--
-- Name: clients fk_clients_agency_id_agencies; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT fk_clients_agency_id_agencies FOREIGN KEY (agency_id) REFERENCES public.agencies(id) ON DELETE CASCADE;


--
-- Name: documents fk_documents_review_cycle_id_review_cycles; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.documents
    ADD CONSTRAINT fk_documents_review_cycle_id_review_cycles FOREIGN KEY (review_cycle_id) REFERENCES public.review_cycles(id) ON DELETE CASCADE;


--
-- Name: review_cycles fk_review_cycles_care_plan_id_care_plans; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.review_cycles
    ADD CONSTRAINT fk_review_cycles_care_plan_id_care_plans FOREIGN KEY (care_plan_id) REFERENCES public.care_plans(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--

\unrestrict bbKjoQGjLzKu5Gd66gpi9oCn5ksbbo8GpCE87J9qsd5px7WgKvLMh0YUMLZ2BaZ

