-- Magneton: the query catalogue table of Orleans' ADO.NET providers, for PostgreSQL (15 is what the
-- project machines run). Applied by SiloHost.EnsurePostgresSchemaAsync before PostgreSQL-Clustering.sql,
-- inside one transaction, only when the membership table does not exist yet.
--
-- Orleans' ADO.NET providers read every statement they run from this table at start-up
-- ("SELECT QueryKey, QueryText FROM OrleansQuery"), so the table and column names are fixed by Orleans.
-- The names follow the schema of the dotnet/orleans repository (MIT License, Copyright (c) .NET
-- Foundation and Contributors; src/AdoNet/Shared/PostgreSQL-Main.sql); this file is Magneton's own.

CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64)   NOT NULL,
    QueryText varchar(8000) NOT NULL,

    CONSTRAINT OrleansQuery_Key PRIMARY KEY (QueryKey)
);
