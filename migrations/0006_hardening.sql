-- 0006_hardening: issue 11.
--
-- Every function of the schema runs with a pinned search_path (the schema being migrated, then
-- pg_catalog, then pg_temp), so what a function's unqualified names resolve to no longer depends on
-- the caller's session: a caller with another search_path, or a same-named table or function in a
-- schema searched earlier (pg_temp is searched first for tables when it is not named), cannot
-- redirect them. No schema is named in the file (the runner sets search_path to DATABASE_SCHEMA):
-- current_schema() is that schema, and the pin is written with it.
--
-- Functions are pinned last, after every CREATE OR REPLACE above (a CREATE OR REPLACE without SET
-- drops the pin), and every later migration that replaces a function must pin it again: the
-- integration test hardening.sql_functions_pin_search_path fails on an unpinned function.

-- ---------------------------------------------------------------------------------------------- pins

DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure AS sig
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = current_schema()
           AND p.prokind IN ('f', 'p')
           -- functions an extension installed belong to the extension, which sets them up itself
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER ROUTINE %s SET search_path = %I, pg_catalog, pg_temp', f.sig, current_schema());
    END LOOP;
END
$$;
