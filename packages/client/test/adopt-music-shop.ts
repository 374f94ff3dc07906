import path from 'node:path';
import Database from 'better-sqlite3';
import { scratchMariadb } from './adopt-legacy-shop.js';
import { onCleanup, tempFolder } from './helpers.js';

/**
 * A music shop's own database, as a program nobody here wrote keeps it (modelled on the Chinook sample): 12
 * tables with integer keys, some the database assigns and some the program assigns itself (no
 * AUTO_INCREMENT, an `INT` key in SQLite), a self-reference (an employee reports to another), a composite
 * key (a playlist's tracks, cascading from both parents), a `CHECK`, and a table of the program's own that
 * references a track. On a SQLite file (foreign keys on, as the program runs) and on a scratch MariaDB
 * database, dropped after the test.
 */
export interface MusicShop {
  readonly engine: 'sqlite' | 'mysql';
  /** What `adopt init --legacy` takes: the file, or the mysql:// URL. */
  readonly legacy: string;
  /** Runs the program's own SQL. */
  run(sql: string, params?: readonly unknown[]): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** How many rows the bound tables hold, all together. */
  rowCount(): Promise<number>;
  /** A number that changes whenever another connection commits a write (SQLite only; `null` on MariaDB). */
  dataVersion(): Promise<number | null>;
}

/** The tables the map binds, and the one it leaves out (`TrackReview`, the program's own). */
export const MUSIC_TABLES = [
  'Artist',
  'Album',
  'Genre',
  'MediaType',
  'Track',
  'Playlist',
  'PlaylistTrack',
  'Employee',
  'Customer',
  'Invoice',
  'InvoiceLine',
] as const;

function schemaSql(engine: 'sqlite' | 'mysql'): string[] {
  const sqlite = engine === 'sqlite';
  // SQLite assigns an INTEGER PRIMARY KEY; the MariaDB tables, as Chinook's, have no AUTO_INCREMENT.
  const key = (name: string): string =>
    sqlite ? `${name} INTEGER PRIMARY KEY` : `${name} INT NOT NULL PRIMARY KEY`;
  const text = (size: number): string => (sqlite ? 'TEXT' : `VARCHAR(${size})`);
  const innodb = sqlite ? '' : ' ENGINE=InnoDB';
  return [
    `CREATE TABLE Artist (${key('ArtistId')}, Name ${text(120)})${innodb}`,
    `CREATE TABLE Album (${key('AlbumId')}, Title ${text(160)} NOT NULL, ArtistId INT NOT NULL,
       FOREIGN KEY (ArtistId) REFERENCES Artist (ArtistId))${innodb}`,
    // The program picks a genre's key itself on both engines.
    `CREATE TABLE Genre (GenreId INT NOT NULL PRIMARY KEY, Name ${text(120)})${innodb}`,
    `CREATE TABLE MediaType (${key('MediaTypeId')}, Name ${text(120)})${innodb}`,
    `CREATE TABLE Track (${key('TrackId')}, Name ${text(200)} NOT NULL, AlbumId INT, MediaTypeId INT NOT NULL,
       GenreId INT, Composer ${text(220)}, Milliseconds INT NOT NULL CHECK (Milliseconds > 0), Bytes INT,
       UnitPrice NUMERIC(10,2) NOT NULL,
       FOREIGN KEY (AlbumId) REFERENCES Album (AlbumId),
       FOREIGN KEY (MediaTypeId) REFERENCES MediaType (MediaTypeId),
       FOREIGN KEY (GenreId) REFERENCES Genre (GenreId))${innodb}`,
    `CREATE TABLE Playlist (${key('PlaylistId')}, Name ${text(120)})${innodb}`,
    `CREATE TABLE PlaylistTrack (PlaylistId INT NOT NULL, TrackId INT NOT NULL, PRIMARY KEY (PlaylistId, TrackId),
       FOREIGN KEY (PlaylistId) REFERENCES Playlist (PlaylistId) ON DELETE CASCADE,
       FOREIGN KEY (TrackId) REFERENCES Track (TrackId) ON DELETE CASCADE)${innodb}`,
    `CREATE TABLE Employee (${key('EmployeeId')}, LastName ${text(20)} NOT NULL, FirstName ${text(20)} NOT NULL,
       Title ${text(30)}, ReportsTo INT, HireDate DATETIME, Email ${text(60)},
       FOREIGN KEY (ReportsTo) REFERENCES Employee (EmployeeId))${innodb}`,
    `CREATE TABLE Customer (${key('CustomerId')}, FirstName ${text(40)} NOT NULL, LastName ${text(20)} NOT NULL,
       Company ${text(80)}, Email ${text(60)} NOT NULL, SupportRepId INT,
       FOREIGN KEY (SupportRepId) REFERENCES Employee (EmployeeId))${innodb}`,
    `CREATE TABLE Invoice (${key('InvoiceId')}, CustomerId INT NOT NULL, InvoiceDate DATETIME NOT NULL,
       BillingCity ${text(40)}, Total NUMERIC(10,2) NOT NULL,
       FOREIGN KEY (CustomerId) REFERENCES Customer (CustomerId))${innodb}`,
    `CREATE TABLE InvoiceLine (${key('InvoiceLineId')}, InvoiceId INT NOT NULL, TrackId INT NOT NULL,
       UnitPrice NUMERIC(10,2) NOT NULL, Quantity INT NOT NULL,
       FOREIGN KEY (InvoiceId) REFERENCES Invoice (InvoiceId),
       FOREIGN KEY (TrackId) REFERENCES Track (TrackId))${innodb}`,
    `CREATE TABLE TrackReview (${key('ReviewId')}, TrackId INT NOT NULL, Stars INT NOT NULL,
       FOREIGN KEY (TrackId) REFERENCES Track (TrackId))${innodb}`,
  ];
}

const ROWS = [
  `INSERT INTO Artist (ArtistId, Name) VALUES (1, 'AC/DC'), (2, 'Accept'), (3, 'Aerosmith')`,
  `INSERT INTO Album (AlbumId, Title, ArtistId) VALUES (1, 'For Those About To Rock', 1), (2, 'Balls to the Wall', 2), (3, 'Restless and Wild', 2)`,
  `INSERT INTO Genre (GenreId, Name) VALUES (1, 'Rock'), (2, 'Jazz')`,
  `INSERT INTO MediaType (MediaTypeId, Name) VALUES (1, 'MPEG audio file'), (2, 'AAC audio file')`,
  `INSERT INTO Track (TrackId, Name, AlbumId, MediaTypeId, GenreId, Composer, Milliseconds, Bytes, UnitPrice) VALUES
     (1, 'For Those About To Rock', 1, 1, 1, 'Angus Young', 343719, 11170334, 0.99),
     (2, 'Balls to the Wall', 2, 2, 1, NULL, 342562, 5510424, 0.99),
     (3, 'Fast As a Shark', 3, 2, 1, 'F. Baltes', 230619, 3990994, 0.99),
     (4, 'Restless and Wild', 3, 2, 1, 'F. Baltes', 252051, 4331779, 1.29),
     (5, 'Princess of the Dawn', 3, 2, NULL, 'Deaffy', 375418, 6290521, 0.99)`,
  `INSERT INTO Playlist (PlaylistId, Name) VALUES (1, 'Music'), (2, 'Heavy')`,
  `INSERT INTO PlaylistTrack (PlaylistId, TrackId) VALUES (1, 1), (1, 2), (2, 3), (2, 4)`,
  `INSERT INTO Employee (EmployeeId, LastName, FirstName, Title, ReportsTo, HireDate, Email) VALUES
     (1, 'Adams', 'Andrew', 'General Manager', NULL, '2002-08-14 00:00:00', 'andrew@chinookcorp.com'),
     (2, 'Edwards', 'Nancy', 'Sales Manager', 1, '2002-05-01 00:00:00', 'nancy@chinookcorp.com'),
     (3, 'Peacock', 'Jane', 'Sales Support Agent', 2, '2002-04-01 00:00:00', 'jane@chinookcorp.com')`,
  `INSERT INTO Customer (CustomerId, FirstName, LastName, Company, Email, SupportRepId) VALUES
     (1, 'Luís', 'Gonçalves', 'Embraer', 'luisg@embraer.com.br', 3),
     (2, 'Leonie', 'Köhler', NULL, 'leonekohler@surfeu.de', 3)`,
  `INSERT INTO Invoice (InvoiceId, CustomerId, InvoiceDate, BillingCity, Total) VALUES
     (1, 1, '2021-01-01 00:00:00', 'São José dos Campos', 1.98), (2, 2, '2021-01-02 00:00:00', 'Stuttgart', 2.28)`,
  `INSERT INTO InvoiceLine (InvoiceLineId, InvoiceId, TrackId, UnitPrice, Quantity) VALUES
     (1, 1, 1, 0.99, 1), (2, 1, 2, 0.99, 1), (3, 2, 3, 0.99, 1), (4, 2, 4, 1.29, 1)`,
  `INSERT INTO TrackReview (ReviewId, TrackId, Stars) VALUES (1, 5, 4)`,
];

/** The rows {@link ROWS} puts in the bound tables. */
export const MUSIC_ROWS = 3 + 3 + 2 + 2 + 5 + 2 + 4 + 3 + 2 + 2 + 4;

/** The music shop on its own SQLite file. */
export function sqliteMusicShop(): MusicShop {
  const file = path.join(tempFolder('tillsync-music-'), 'music.db');
  const db = new Database(file);
  onCleanup(() => db.close());
  db.pragma('foreign_keys = ON');
  for (const statement of [...schemaSql('sqlite'), ...ROWS]) db.exec(statement);
  const query = <T>(sql: string, params: readonly unknown[] = []): Promise<T[]> =>
    Promise.resolve(db.prepare(sql).all(...params) as T[]);
  return {
    engine: 'sqlite',
    legacy: file,
    run(sql, params = []) {
      db.prepare(sql).run(...params);
      return Promise.resolve();
    },
    query,
    rowCount: () => countRows(query),
    dataVersion: () => Promise.resolve(Number(db.pragma('data_version', { simple: true }))),
  };
}

/** The music shop on a scratch MariaDB database of its own. */
export async function mariadbMusicShop(): Promise<MusicShop> {
  const { database, db } = await scratchMariadb('tillsync_music');
  for (const statement of [...schemaSql('mysql'), ...ROWS]) await db.query(statement);
  const query = async <T>(sql: string, params: readonly unknown[] = []): Promise<T[]> => {
    const [rows] = await db.query(sql, [...params]);
    return rows as T[];
  };
  return {
    engine: 'mysql',
    legacy: `mysql://root@127.0.0.1:3306/${database}`,
    async run(sql, params = []) {
      await db.query(sql, [...params]);
    },
    query,
    rowCount: () => countRows(query),
    dataVersion: () => Promise.resolve(null),
  };
}

async function countRows(query: <T>(sql: string) => Promise<T[]>): Promise<number> {
  let total = 0;
  for (const table of MUSIC_TABLES) {
    const [row] = await query<{ n: number | string }>(`SELECT count(*) AS n FROM ${table}`);
    total += Number(row?.n ?? 0);
  }
  return total;
}
