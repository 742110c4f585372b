// Client configuration for this server, from the protocol READMEs
// (edge/<protocol>/README.md). base is the public URL without a trailing
// slash, e.g. https://entrepot.example.com.

import { protocolPrefixes } from './format'

export interface Block {
  label: string
  code: string
}
export interface ClientConfig {
  id: string
  title: string
  intro: string
  blocks: Block[]
}

const TOKEN = 'srg_…'

/** at is a protocol's mount point, from the server's protocol table. */
const at = (protocol: string) => protocolPrefixes[protocol] ?? ''

function parts(base: string) {
  const u = new URL(base)
  const hostPort = u.host // with the port when it is not the default one
  const path = u.pathname.replace(/\/+$/, '')
  return { u, hostPort, path, insecure: u.protocol === 'http:' }
}

/** installSnippet is the command that installs name@version with its client. */
export function installSnippet(protocol: string, name: string, version: string, base: string): string {
  const { hostPort, path } = parts(base)
  switch (protocol) {
    case 'npm':
      return name.startsWith('@')
        ? `npm config set ${name.split('/')[0]}:registry ${base}${at('npm')}/\nnpm install ${name}@${version}`
        : `npm install ${name}@${version} --registry ${base}${at('npm')}/`
    case 'pypi':
      return `pip install --index-url ${base}${at('pypi')}/simple/ '${name}==${version}'`
    case 'oci':
      return `docker pull ${hostPort}${path}/${name}:${version}`
    case 'cargo':
      return `cargo add ${name}@${version} --registry entrepot`
    case 'maven': {
      const [g, a] = name.split(':')
      return `<dependency>\n  <groupId>${g}</groupId>\n  <artifactId>${a ?? ''}</artifactId>\n  <version>${version}</version>\n</dependency>`
    }
    case 'composer':
      return `composer require '${name}:${version}'`
    case 'rubygems':
      return `gem install ${name} -v '${version}' --clear-sources --source ${base}${at('rubygems')}/`
    case 'go':
      return `GOPROXY=${base}${at('go')}/ go get ${name}@${version}`
  }
  return `${name} ${version}`
}

/** connectSnippets is the configuration of every supported client. */
export function connectSnippets(base: string): ClientConfig[] {
  const { hostPort, path, insecure, u } = parts(base)
  const npmKey = `//${hostPort}${path}${at('npm')}/`
  const withCreds = (user: string) => `${u.protocol}//${user}:${TOKEN}@${hostPort}${path}`
  return [
    {
      id: 'npm',
      title: 'npm',
      intro: 'Put these lines in ~/.npmrc (or the project\'s .npmrc). Every package then comes through Entrepot: your organization\'s scopes from its hosted repositories, the rest from the npm mirror.',
      blocks: [
        { label: '.npmrc', code: `registry=${base}${at('npm')}/\n${npmKey}:_authToken=${TOKEN}` },
        { label: 'Only your scope through Entrepot', code: `@acme:registry=${base}${at('npm')}/\n${npmKey}:_authToken=${TOKEN}` },
        { label: 'Publish', code: 'npm publish' },
      ],
    },
    {
      id: 'pip',
      title: 'pip (PyPI)',
      intro: `pip reads the simple index under ${at('pypi')}/simple/; uploads go to ${at('pypi')}/. Use __token__ as the user name and an API token as the password (or your own user name and password).`,
      blocks: [
        { label: '~/.config/pip/pip.conf', code: `[global]\nindex-url = ${withCreds('__token__')}${at('pypi')}/simple/` },
        { label: 'One install', code: `pip install --index-url ${base}${at('pypi')}/simple/ requests` },
        {
          label: 'Upload with twine (~/.pypirc)',
          code: `[distutils]\nindex-servers = entrepot\n\n[entrepot]\nrepository = ${base}${at('pypi')}/\nusername = __token__\npassword = ${TOKEN}`,
        },
        { label: 'Upload', code: 'twine upload --repository entrepot dist/*' },
      ],
    },
    {
      id: 'docker',
      title: 'docker and podman (OCI)',
      intro:
        'Images live under the host name: your organization\'s as host/ORG/IMAGE, mirrored ones under the prefix of their upstream (host/PREFIX/IMAGE).' +
        (insecure ? ' This server is reached over plain HTTP: add it to the daemon\'s "insecure-registries" (docker) or pass --tls-verify=false (podman).' : ''),
      blocks: [
        { label: 'Sign in (user name, then an API token as the password)', code: `docker login ${hostPort}\npodman login ${insecure ? '--tls-verify=false ' : ''}${hostPort}` },
        { label: 'Push', code: `docker tag my-app ${hostPort}/acme/my-app:1.0\ndocker push ${hostPort}/acme/my-app:1.0` },
        { label: 'Pull', code: `docker pull ${hostPort}/acme/my-app:1.0` },
        ...(insecure ? [{ label: '/etc/docker/daemon.json', code: `{\n  "insecure-registries": ["${hostPort}"]\n}` }] : []),
      ],
    },
    {
      id: 'cargo',
      title: 'cargo',
      intro: 'A sparse registry. Give cargo an API token with the cargo protocol and the read and write actions.',
      blocks: [
        {
          label: '~/.cargo/config.toml',
          code: `[registries.entrepot]\nindex = "sparse+${base}${at('cargo')}/index/"\n\n[registry]\nglobal-credential-providers = ["cargo:token"]\n\n# Optional: every crates.io dependency through Entrepot too.\n[source.crates-io]\nreplace-with = "entrepot"`,
        },
        { label: 'Token', code: `cargo login --registry entrepot          # paste the token; or\nexport CARGO_REGISTRIES_ENTREPOT_TOKEN=${TOKEN}` },
        { label: 'Publish', code: 'cargo publish --registry entrepot' },
      ],
    },
    {
      id: 'maven',
      title: 'Maven (mvn)',
      intro: 'Mirror every repository through Entrepot in ~/.m2/settings.xml; deploy to the same URL.',
      blocks: [
        {
          label: '~/.m2/settings.xml',
          code: `<settings>\n  <mirrors>\n    <mirror>\n      <id>entrepot</id>\n      <mirrorOf>*</mirrorOf>\n      <url>${base}${at('maven')}</url>\n    </mirror>\n  </mirrors>\n  <servers>\n    <server>\n      <id>entrepot</id>\n      <username>alice</username>\n      <password>${TOKEN}</password>\n    </server>\n  </servers>\n</settings>`,
        },
        {
          label: 'pom.xml (deploy)',
          code: `<distributionManagement>\n  <repository><id>entrepot</id><url>${base}${at('maven')}</url></repository>\n  <snapshotRepository><id>entrepot</id><url>${base}${at('maven')}</url></snapshotRepository>\n</distributionManagement>`,
        },
        { label: 'Deploy', code: 'mvn deploy' },
      ],
    },
    {
      id: 'composer',
      title: 'Composer',
      intro: 'Add the repository to composer.json and the credentials to auth.json (keyed by host, with the port when it is not the default one).',
      blocks: [
        {
          label: 'composer.json',
          code: `{\n  "repositories": [\n    {"packagist.org": false},\n    {"type": "composer", "url": "${base}${at('composer')}"}\n  ]${insecure ? ',\n  "config": {"secure-http": false}' : ''}\n}`,
        },
        { label: 'auth.json', code: `{"bearer": {"${hostPort}": "${TOKEN}"}}` },
        {
          label: 'Upload a version (Composer has no publish command)',
          code: `cd my-lib && zip -r ../my-lib.zip . -x '.git/*' -x 'vendor/*'\ncurl -f -X PUT -H "Authorization: Bearer ${TOKEN}" \\\n     --data-binary @../my-lib.zip \\\n     "${base}${at('composer')}/packages/acme/my-lib?version=1.2.0"`,
        },
      ],
    },
    {
      id: 'gem',
      title: 'gem and Bundler (RubyGems)',
      intro: 'The API token is the key for pushes; installs of private gems take any user name with the token as the password.',
      blocks: [
        { label: 'Push', code: `GEM_HOST_API_KEY=${TOKEN} gem push mygem-1.0.0.gem --host ${base}${at('rubygems')}` },
        { label: 'Install', code: `gem install mygem --clear-sources --source ${withCreds('me')}${at('rubygems')}/` },
        { label: 'Gemfile', code: `source "${base}${at('rubygems')}/"\ngem "mygem"` },
        { label: 'Bundler credentials', code: `bundle config set --global ${hostPort} me:${TOKEN}` },
      ],
    },
  ]
}
