-- pgwarden demo schema. Every person, number and address below is made up:
-- SSNs use the never-issued 9xx area, phone numbers the fictional 555-01xx
-- range, card numbers the card networks' public test numbers, and e-mail
-- addresses the reserved example.com / example.org domains.

CREATE TABLE customers (
  id          integer PRIMARY KEY,
  full_name   text NOT NULL,
  email       text NOT NULL UNIQUE,
  ssn         text NOT NULL,
  phone       text NOT NULL,
  card_number text NOT NULL,
  city        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
  id           integer PRIMARY KEY,
  customer_id  integer NOT NULL REFERENCES customers (id),
  item         text NOT NULL,
  amount_cents integer NOT NULL CHECK (amount_cents > 0),
  ordered_at   timestamptz NOT NULL
);

INSERT INTO customers (id, full_name, email, ssn, phone, card_number, city) VALUES
  ( 1, 'Ada Fictional',       'ada.fictional@example.com',     '900-12-0001', '+1 202-555-0101', '4111 1111 1111 1111', 'Springfield'),
  ( 2, 'Bruno Placeholder',   'bruno.placeholder@example.com', '900-12-0002', '+1 202-555-0102', '5555 5555 5555 4444', 'Shelbyville'),
  ( 3, 'Chloe Sample',        'chloe.sample@example.org',      '900-12-0003', '+1 202-555-0103', '4242 4242 4242 4242', 'Ogdenville'),
  ( 4, 'Dmitri Testcase',     'dmitri.testcase@example.com',   '900-12-0004', '+1 202-555-0104', '3782 822463 10005',   'North Haverbrook'),
  ( 5, 'Esme Madeup',         'esme.madeup@example.org',       '900-12-0005', '+1 202-555-0105', '6011 1111 1111 1117', 'Capital City'),
  ( 6, 'Farid Notreal',       'farid.notreal@example.com',     '900-12-0006', '+1 202-555-0106', '4000 0566 5566 5556', 'Springfield'),
  ( 7, 'Greta Dummy',         'greta.dummy@example.com',       '900-12-0007', '+1 202-555-0107', '5200 8282 8282 8210', 'Brockway'),
  ( 8, 'Hiro Imaginary',      'hiro.imaginary@example.org',    '900-12-0008', '+1 202-555-0108', '3714 496353 98431',   'Shelbyville'),
  ( 9, 'Ines Pretend',        'ines.pretend@example.com',      '900-12-0009', '+1 202-555-0109', '3056 9300 0902 0004', 'Ogdenville'),
  (10, 'Jonas Mock',          'jonas.mock@example.com',        '900-12-0010', '+1 202-555-0110', '3566 0020 2036 0505', 'Springfield'),
  (11, 'Kemi Fixture',        'kemi.fixture@example.org',      '900-12-0011', '+1 202-555-0111', '6200 0000 0000 0005', 'Capital City'),
  (12, 'Lars Stub',           'lars.stub@example.com',         '900-12-0012', '+1 202-555-0112', '4111 1111 1111 1111', 'North Haverbrook'),
  (13, 'Mara Synthetic',      'mara.synthetic@example.com',    '900-12-0013', '+1 202-555-0113', '5105 1051 0510 5100', 'Brockway'),
  (14, 'Nico Invented',       'nico.invented@example.org',     '900-12-0014', '+1 202-555-0114', '4012 8888 8888 1881', 'Springfield'),
  (15, 'Olga Hypothetical',   'olga.hypothetical@example.com', '900-12-0015', '+1 202-555-0115', '4000 0000 0000 0002', 'Shelbyville'),
  (16, 'Pavel Nobody',        'pavel.nobody@example.com',      '900-12-0016', '+1 202-555-0116', '5555 5555 5555 4444', 'Ogdenville'),
  (17, 'Quinn Unreal',        'quinn.unreal@example.org',      '900-12-0017', '+1 202-555-0117', '4242 4242 4242 4242', 'Capital City'),
  (18, 'Rosa Example',        'rosa.example@example.com',      '900-12-0018', '+1 202-555-0118', '3782 822463 10005',   'Brockway'),
  (19, 'Sven Anonymous',      'sven.anonymous@example.com',    '900-12-0019', '+1 202-555-0119', '6011 0009 9013 9424', 'Springfield'),
  (20, 'Tala Fakename',       'tala.fakename@example.org',     '900-12-0020', '+1 202-555-0120', '4111 1111 1111 1111', 'North Haverbrook');

INSERT INTO orders (id, customer_id, item, amount_cents, ordered_at)
SELECT n,
       1 + (n * 7) % 20,
       (ARRAY['espresso machine', 'desk lamp', 'rain jacket', 'chess set', 'headphones', 'teapot'])[1 + n % 6],
       500 + (n * 1237) % 25000,
       timestamptz '2026-01-01 09:00+00' + n * interval '7 hours'
FROM generate_series(1, 60) AS n;
