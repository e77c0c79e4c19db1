// Prints the Node.js version and the versions of a few of the installed dependencies.
const dependencies = ['lodash', 'typescript', 'webpack', 'aws-sdk'];

console.log(`node ${process.version}`);
for (const name of dependencies) {
    console.log(`${name} ${require(`${name}/package.json`).version}`);
}
