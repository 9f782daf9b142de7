-- Magneton: Orleans ADO.NET cluster membership on PostgreSQL, for Microsoft.Orleans.Clustering.AdoNet 10.4.2
-- (invariant "Npgsql"). Applied by SiloHost.EnsurePostgresSchemaAsync after PostgreSQL-Main.sql, inside one
-- transaction, only when OrleansMembershipTable does not exist yet.
--
-- The contract with Orleans is: the table and column names below, the query keys in OrleansQuery, the
-- @parameters each query receives and the columns it returns. Those names follow the schema of the
-- dotnet/orleans repository (MIT License, Copyright (c) .NET Foundation and Contributors;
-- src/AdoNet/Orleans.Clustering.AdoNet/PostgreSQL-Clustering.sql). The statements are Magneton's own: plain
-- SQL with data-modifying CTEs instead of PL/pgSQL functions, one statement per query.
--
-- Orleans 10.4.2 specifics: its queries carry no MetadataJson (the column added to Orleans' schema later is
-- left out), and it refuses to start unless CleanupDefunctSiloEntryKey is in the catalogue.
--
-- Membership protocol: OrleansMembershipVersionTable holds one row per cluster (DeploymentId = cluster id)
-- whose Version is the table's etag. Every insert or update of a silo row must name the version it read;
-- the statement bumps the version and writes the row only if that version is still current, and returns
-- 1 (written) or 0 (someone else wrote first: Orleans re-reads and retries). Status 6 is SiloStatus.Dead.

CREATE TABLE IF NOT EXISTS OrleansMembershipVersionTable
(
    DeploymentId varchar(150)   NOT NULL,
    Timestamp    timestamptz(3) NOT NULL DEFAULT now(),
    Version      integer        NOT NULL DEFAULT 0,

    CONSTRAINT PK_OrleansMembershipVersionTable_DeploymentId PRIMARY KEY (DeploymentId)
);

CREATE TABLE IF NOT EXISTS OrleansMembershipTable
(
    DeploymentId varchar(150)   NOT NULL,
    Address      varchar(45)    NOT NULL,
    Port         integer        NOT NULL,
    Generation   integer        NOT NULL,
    SiloName     varchar(150)   NOT NULL,
    HostName     varchar(150)   NOT NULL,
    Status       integer        NOT NULL,
    ProxyPort    integer        NULL,
    SuspectTimes varchar(8000)  NULL,
    StartTime    timestamptz(3) NOT NULL,
    IAmAliveTime timestamptz(3) NOT NULL,

    CONSTRAINT PK_MembershipTable_DeploymentId PRIMARY KEY (DeploymentId, Address, Port, Generation),
    -- Deleting a cluster's version row deletes its silo rows (DeleteMembershipTableEntriesKey).
    CONSTRAINT FK_MembershipTable_MembershipVersionTable_DeploymentId FOREIGN KEY (DeploymentId)
        REFERENCES OrleansMembershipVersionTable (DeploymentId) ON DELETE CASCADE
);

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES

-- Creates the cluster's version row once; 1 if this call created it.
('InsertMembershipVersionKey', $q$
WITH created AS (
    INSERT INTO OrleansMembershipVersionTable (DeploymentId)
    VALUES (@DeploymentId)
    ON CONFLICT (DeploymentId) DO NOTHING
    RETURNING 1)
SELECT count(*)::integer FROM created
$q$),

-- Adds a silo row if the table version is still @Version and the row is new; 1 if written.
('InsertMembershipKey', $q$
WITH bumped AS (
    UPDATE OrleansMembershipVersionTable v
    SET Version = v.Version + 1, Timestamp = now()
    WHERE v.DeploymentId = @DeploymentId
      AND v.Version = @Version
      AND NOT EXISTS (
          SELECT 1 FROM OrleansMembershipTable m
          WHERE m.DeploymentId = @DeploymentId AND m.Address = @Address
            AND m.Port = @Port AND m.Generation = @Generation)
    RETURNING v.DeploymentId),
added AS (
    INSERT INTO OrleansMembershipTable
        (DeploymentId, Address, Port, Generation, SiloName, HostName, Status, ProxyPort, StartTime, IAmAliveTime)
    SELECT b.DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName, @Status, @ProxyPort,
           @StartTime, @IAmAliveTime
    FROM bumped b
    ON CONFLICT (DeploymentId, Address, Port, Generation) DO NOTHING
    RETURNING 1)
SELECT count(*)::integer FROM added
$q$),

-- Changes a silo row's status and suspicions if the table version is still @Version; 1 if written.
('UpdateMembershipKey', $q$
WITH bumped AS (
    UPDATE OrleansMembershipVersionTable v
    SET Version = v.Version + 1, Timestamp = now()
    WHERE v.DeploymentId = @DeploymentId
      AND v.Version = @Version
      AND EXISTS (
          SELECT 1 FROM OrleansMembershipTable m
          WHERE m.DeploymentId = @DeploymentId AND m.Address = @Address
            AND m.Port = @Port AND m.Generation = @Generation)
    RETURNING v.DeploymentId),
changed AS (
    UPDATE OrleansMembershipTable m
    SET Status = @Status,
        SuspectTimes = @SuspectTimes,
        IAmAliveTime = GREATEST(m.IAmAliveTime, @IAmAliveTime)
    FROM bumped b
    WHERE m.DeploymentId = b.DeploymentId AND m.Address = @Address
      AND m.Port = @Port AND m.Generation = @Generation
    RETURNING 1)
SELECT count(*)::integer FROM changed
$q$),

-- Heartbeat: not versioned, never fails, result not read.
('UpdateIAmAlivetimeKey', $q$
UPDATE OrleansMembershipTable m
SET IAmAliveTime = GREATEST(m.IAmAliveTime, @IAmAliveTime)
WHERE m.DeploymentId = @DeploymentId AND m.Address = @Address
  AND m.Port = @Port AND m.Generation = @Generation
$q$),

-- One silo row with the table version; the version row alone (null silo columns) if the silo has none.
('MembershipReadRowKey', $q$
SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName, m.Status, m.ProxyPort,
       m.SuspectTimes, m.StartTime, m.IAmAliveTime, v.Version
FROM OrleansMembershipVersionTable v
LEFT JOIN OrleansMembershipTable m
       ON m.DeploymentId = v.DeploymentId AND m.Address = @Address
      AND m.Port = @Port AND m.Generation = @Generation
WHERE v.DeploymentId = @DeploymentId
$q$),

-- Every silo row of the cluster with the table version (the version row alone if there is none).
('MembershipReadAllKey', $q$
SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName, m.Status, m.ProxyPort,
       m.SuspectTimes, m.StartTime, m.IAmAliveTime, v.Version
FROM OrleansMembershipVersionTable v
LEFT JOIN OrleansMembershipTable m ON m.DeploymentId = v.DeploymentId
WHERE v.DeploymentId = @DeploymentId
$q$),

-- Forgets a whole cluster (the silo rows go with the version row: ON DELETE CASCADE).
('DeleteMembershipTableEntriesKey', $q$
DELETE FROM OrleansMembershipVersionTable WHERE DeploymentId = @DeploymentId
$q$),

-- Gateways of the cluster's silos in status @Status (Active), for clients.
('GatewaysQueryKey', $q$
SELECT m.Address, m.ProxyPort, m.Generation
FROM OrleansMembershipTable m
WHERE m.DeploymentId = @DeploymentId AND m.Status = @Status AND m.ProxyPort > 0
$q$),

-- Removes dead silos not heard of since @IAmAliveTime.
('CleanupDefunctSiloEntriesKey', $q$
DELETE FROM OrleansMembershipTable m
WHERE m.DeploymentId = @DeploymentId AND m.Status = 6
  AND m.IAmAliveTime < @IAmAliveTime AND m.StartTime < @IAmAliveTime
$q$),

-- Removes one dead silo row, only if it still holds the values the caller read.
('CleanupDefunctSiloEntryKey', $q$
DELETE FROM OrleansMembershipTable m
WHERE m.DeploymentId = @DeploymentId AND m.Status = 6
  AND m.Address = @Address AND m.Port = @Port AND m.Generation = @Generation
  AND m.IAmAliveTime = @IAmAliveTime AND m.StartTime = @StartTime
  AND COALESCE(m.SuspectTimes, '') = COALESCE(@SuspectTimes, '')
$q$)

ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
